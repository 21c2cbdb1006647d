package dev.selfie.graph;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;

class ResNetTest {
  private static final Shape SHAPE = Shape.of(4, 2, 2, 3);

  @Test
  void batchNormTrainingUpdatesMovingStatsAndInferenceUsesThem() {
    ModelConfig c = ModelConfig.preset("tiny"); // momentum 0.9
    float[] x0 = TestSupport.randomFloats((int) SHAPE.size(), 4);
    for (int i = 0; i < x0.length; i++) {
      x0[i] = x0[i] * (1 + i % 3) + (i % 3) * 2;   // channel k: mean ~2k, std ~k+1
    }
    int count = 16;
    double[] mean = new double[3];
    double[] var = new double[3];
    for (int i = 0; i < x0.length; i++) {
      mean[i % 3] += x0[i] / count;
    }
    for (int i = 0; i < x0.length; i++) {
      var[i % 3] += Math.pow(x0[i] - mean[i % 3], 2) / (count - 1);   // unbiased
    }
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      VarStore vars = new VarStore(tf);
      Placeholder<TFloat32> x = tf.placeholder(TFloat32.class, Placeholder.shape(SHAPE));
      var train = ResNet.batchNorm(tf, vars, "bn", x, c, true);
      assertEquals(2, vars.updates().size());
      var infer = ResNet.batchNorm(tf, vars, "bn", x, c, false);
      assertEquals(2, vars.updates().size(), "inference registers no updates");
      assertEquals(4, vars.all().size(), "both calls share gamma, beta and the moving stats");
      try (Session s = TestSupport.session(g);
          TFloat32 t = TFloat32.tensorOf(SHAPE,
              org.tensorflow.ndarray.buffer.DataBuffers.of(x0))) {
        // Training output is normalised with the batch statistics.
        var runner = s.runner().feed(x, t).fetch(train);
        vars.updates().forEach(runner::addTarget);
        try (Result r = runner.run()) {
          float[] y = TestSupport.floats(r.get(0));
          for (int k = 0; k < 3; k++) {
            double m = 0;
            for (int i = k; i < y.length; i += 3) {
              m += y[i] / count;
            }
            assertEquals(0, m, 1e-5);
          }
        }
        try (Result r = s.runner().fetch(vars.get("bn/moving_mean").value())
            .fetch(vars.get("bn/moving_variance").value()).run()) {
          float[] mm = TestSupport.floats(r.get(0));
          float[] mv = TestSupport.floats(r.get(1));
          for (int k = 0; k < 3; k++) {
            assertEquals(0.1 * mean[k], mm[k], 1e-5, "moving mean, channel " + k);
            assertEquals(0.9 + 0.1 * var[k], mv[k], 1e-4, "moving variance, channel " + k);
          }
          // Inference normalises with the moving statistics (gamma 1, beta 0).
          float[] y = TestSupport.eval(s, infer, x, SHAPE, x0);
          for (int i = 0; i < y.length; i++) {
            int k = i % 3;
            assertEquals((x0[i] - mm[k]) / Math.sqrt(mv[k] + c.bnEpsilon()), y[i], 1e-4);
          }
        }
      }
    }
  }

  @Test
  void zeroInitLastMakesAnIdentityBlockTheIdentity() {
    ModelConfig c = ModelConfig.preset("tiny").withZeroInitLast(true);
    Shape shape = Shape.of(2, 4, 4, 16);
    float[] x0 = TestSupport.randomFloats((int) shape.size(), 8);
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      VarStore vars = new VarStore(tf);
      Placeholder<TFloat32> x = tf.placeholder(TFloat32.class, Placeholder.shape(shape));
      var y = ResNet.bottleneck(tf, vars, "resnet/stage1/block1", x, 16, 1, c, true);
      var z = ResNet.bottleneck(tf, vars, "resnet/stage2/block0", x, 32, 2, c, true);
      assertArrayEquals(new long[] {2, 2, 2, 32}, z.shape().asArray());
      assertNull(vars.get("resnet/stage1/block1/shortcut/kernel"), "identity shortcut");
      assertNotNull(vars.get("resnet/stage2/block0/shortcut/kernel"), "projection shortcut");
      try (Session s = TestSupport.session(g)) {
        assertArrayEquals(x0, TestSupport.eval(s, y, x, shape, x0), 0f);
        float[] k =
            TestSupport.fetch(s, vars.get("resnet/stage1/block1/conv3/kernel").value());
        assertEquals(0, TestSupport.norm(k));
        float[] k1 =
            TestSupport.fetch(s, vars.get("resnet/stage1/block1/conv1/kernel").value());
        // He normal: std sqrt(2 / 16) = 0.354
        double std = TestSupport.norm(k1) / Math.sqrt(k1.length);
        assertEquals(Math.sqrt(2.0 / 16), std, 0.1);
      }
    }
  }
}
