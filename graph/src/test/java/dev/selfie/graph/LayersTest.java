package dev.selfie.graph;

import static org.junit.jupiter.api.Assertions.*;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;

/** Finite-difference checks of layer norm and a transformer layer, and known values. */
class LayersTest {

  /** y = sum(f(x) * w) with fixed random w: a scalar that depends on every output. */
  private static Operand<TFloat32> weightedSum(Ops tf, Operand<TFloat32> out, Shape shape,
      long seed) {
    var w = tf.constant(shape, DataBuffers.of(TestSupport.randomFloats((int) shape.size(), seed)));
    return tf.sum(tf.math.mul(out, w), tf.constant(new int[] {0, 1, 2}));
  }

  /** Scales every KERNEL of the store by {@code factor}, so the layer is far from linear. */
  private static void scaleKernels(Session s, Ops tf, VarStore vars, float factor) {
    var runner = s.runner();
    for (VarStore.Entry e : vars.all()) {
      if (e.kind() != VarStore.Kind.STATE) {
        runner.addTarget(tf.assign(e.variable(), tf.math.add(
            tf.math.mul(e.value(), tf.constant(factor)),
            tf.constant(e.kind() == VarStore.Kind.KERNEL ? 0f : 0.3f))));
      }
    }
    runner.run().close();
  }

  @Test
  void layerNormNormalisesAndMatchesFiniteDifferences() {
    Shape shape = Shape.of(2, 3, 6);
    float[] x0 = TestSupport.randomFloats(36, 5);
    for (int i = 0; i < x0.length; i++) {
      x0[i] = x0[i] * 2 + 1;
    }
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      VarStore vars = new VarStore(tf);
      Placeholder<TFloat32> x = tf.placeholder(TFloat32.class, Placeholder.shape(shape));
      var ln = Layers.layerNorm(tf, vars, "ln", x, 1e-6);
      var y = weightedSum(tf, ln, shape, 9);
      var grad = TestSupport.gradients(g, y, List.of(x))[0];
      try (Session s = TestSupport.session(g)) {
        float[] out = TestSupport.eval(s, ln, x, shape, x0);
        for (int row = 0; row < 6; row++) {
          double mean = 0;
          double sq = 0;
          for (int k = 0; k < 6; k++) {
            mean += out[row * 6 + k] / 6.0;
            sq += out[row * 6 + k] * out[row * 6 + k] / 6.0;
          }
          assertEquals(0, mean, 1e-5);
          assertEquals(1, sq, 1e-3);
        }
        scaleKernels(s, tf, vars, 1.5f); // gamma 1.8, beta 0.3
        TestSupport.assertGradientMatches(s, y, grad, x, shape, x0, 1e-2, 5e-3);
      }
    }
  }

  @Test
  void transformerLayerMatchesFiniteDifferences() {
    ModelConfig c = ModelConfig.preset("tiny").withDropout(0);
    Shape shape = Shape.of(2, 3, c.d());
    float[] x0 = TestSupport.randomFloats((int) shape.size(), 11);
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      VarStore vars = new VarStore(tf, 3);
      Placeholder<TFloat32> x = tf.placeholder(TFloat32.class, Placeholder.shape(shape));
      var out = Attention.transformerLayer(tf, vars, "attention/layer0", x, c, null, false);
      assertArrayEquals(shape.asArray(), out.shape().asArray());
      var y = weightedSum(tf, out, shape, 12);
      var grad = TestSupport.gradients(g, y, List.of(x))[0];
      try (Session s = TestSupport.session(g)) {
        scaleKernels(s, tf, vars, 25f); // kernels ~0.5 stddev: softmax far from uniform
        TestSupport.assertGradientMatches(s, y, grad, x, shape, x0, 1e-2, 1e-2);
      }
    }
  }

  @Test
  void geluAndDropoutKnownValues() {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      var gl = Layers.gelu(tf, tf.constant(new float[] {-1f, 0f, 1f, 2f}));
      var ones = tf.fill(tf.constant(new int[] {1000}), tf.constant(1f));
      var seed = tf.constant(new long[] {1, 2});
      var dropped = Layers.dropout(tf, ones, 0.25, seed, true);
      var same = Layers.dropout(tf, ones, 0.25, seed, true);
      var off = Layers.dropout(tf, ones, 0.25, seed, false);
      try (Session s = new Session(g);
          var r = s.runner().fetch(gl).fetch(dropped).fetch(same).fetch(off).run()) {
        float[] v = TestSupport.floats(r.get(0));
        assertEquals(-0.15865525f, v[0], 1e-5);
        assertEquals(0f, v[1], 1e-7);
        assertEquals(0.8413447f, v[2], 1e-5);
        assertEquals(1.9544997f, v[3], 1e-5);
        float[] d = TestSupport.floats(r.get(1));
        assertArrayEquals(d, TestSupport.floats(r.get(2)), "same seed, same mask");
        int zeros = 0;
        for (float f : d) {
          if (f == 0f) {
            zeros++;
          } else {
            assertEquals(1f / 0.75f, f, 1e-6);
          }
        }
        assertTrue(zeros > 200 && zeros < 300, "about 25% dropped, got " + zeros);
        for (float f : TestSupport.floats(r.get(3))) {
          assertEquals(1f, f);
        }
      }
    }
  }

  /**
   * Every random stream of the pretraining graph (masking; per transformer layer: attention
   * probabilities, attention residual, feed-forward residual) gets its own seed. With the former
   * additive derivation, layer i's feed-forward residual stream was layer i+1's attention
   * residual stream, so their dropout masks were equal.
   */
  @Test
  void seedStreamsOfThePretrainingGraphAreDistinct() {
    long base = 7;
    java.util.Set<Long> seen = new java.util.HashSet<>();
    assertTrue(seen.add(Layers.subSeedValue(base, 0)), "mask stream");        // MASK_STREAM
    long attention = Layers.subSeedValue(base, 1);                             // ATTENTION_STREAM
    for (int layer = 0; layer < 12; layer++) {
      long layerSeed = Layers.subSeedValue(attention, 100 + layer);
      long probs = Layers.subSeedValue(Layers.subSeedValue(layerSeed, 1), 0);
      long attnResidual = Layers.subSeedValue(layerSeed, 2);
      long ffnResidual = Layers.subSeedValue(layerSeed, 3);
      for (long s : new long[] {probs, attnResidual, ffnResidual}) {
        assertTrue(seen.add(s), "stream of layer " + layer + " collides with an earlier one");
      }
    }
    // The graph op computes the documented value (int64 arithmetic wraps like Java's).
    try (Graph g = new Graph(); Session s = new Session(g)) {
      Ops tf = Ops.create(g);
      var seed = tf.constant(new long[] {base, 42L});
      var once = Layers.subSeed(tf, seed, 3);
      var twice = Layers.subSeed(tf, once, 101);
      try (var r = s.runner().fetch(once).fetch(twice).run()) {
        var a = (org.tensorflow.types.TInt64) r.get(0);
        var b = (org.tensorflow.types.TInt64) r.get(1);
        assertEquals(Layers.subSeedValue(base, 3), a.getLong(0));
        assertEquals(42L, a.getLong(1));
        assertEquals(Layers.subSeedValue(Layers.subSeedValue(base, 3), 101), b.getLong(0));
        assertEquals(42L, b.getLong(1));
      }
    }
  }
}
