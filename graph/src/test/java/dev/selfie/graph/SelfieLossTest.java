package dev.selfie.graph;

import static org.junit.jupiter.api.Assertions.*;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;

class SelfieLossTest {
  private static final int B = 2;
  private static final int M = 4;
  private static final int D = 8;
  private static final Shape SHAPE = Shape.of(B, M, D);

  @Test
  void equalLogitsGiveLnM() {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      // Queries orthogonal to every target: all logits 0.
      float[] v = new float[B * M * D];
      float[] h = new float[B * M * D];
      for (int i = 0; i < B * M; i++) {
        v[i * D] = 3f;
        h[i * D + 1] = 2f;
      }
      var loss = SelfieLoss.of(tf, tf.constant(SHAPE, DataBuffers.of(v)),
          tf.constant(SHAPE, DataBuffers.of(h)), 1.0);
      try (Session s = new Session(g);
          Result r = s.runner().fetch(loss.loss()).fetch(loss.logits()).fetch(loss.labels())
              .run()) {
        assertEquals(Math.log(M), TestSupport.scalar(r.get(0)), 1e-5);
        for (float l : TestSupport.floats(r.get(1))) {
          assertEquals(0f, l);
        }
        assertArrayEquals(new int[] {0, 1, 2, 3, 0, 1, 2, 3}, TestSupport.ints(r.get(2)));
      }
    }
  }

  @Test
  void queriesPointingAtTheRightPatchGiveAccuracyOne() {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      float[] h = new float[B * M * D];
      float[] v = new float[B * M * D];
      for (int b = 0; b < B; b++) {
        for (int j = 0; j < M; j++) {
          h[(b * M + j) * D + j] = 1f;            // one-hot targets
          v[(b * M + j) * D + j] = 5f;            // query j points at target j
          v[(b * M + j) * D + (j + 1) % M] = 1f;  // and a little at a distractor
        }
      }
      var loss = SelfieLoss.of(tf, tf.constant(SHAPE, DataBuffers.of(v)),
          tf.constant(SHAPE, DataBuffers.of(h)), 1.0);
      var swapped = SelfieLoss.of(tf, tf.constant(SHAPE, DataBuffers.of(h)),
          tf.constant(SHAPE, DataBuffers.of(v)), 1.0);
      var hot = SelfieLoss.of(tf, tf.constant(SHAPE, DataBuffers.of(v)),
          tf.constant(SHAPE, DataBuffers.of(h)), 0.5);
      try (Session s = new Session(g);
          Result r = s.runner().fetch(loss.accuracy()).fetch(loss.loss()).fetch(loss.logits())
              .fetch(hot.loss()).fetch(hot.logits()).run()) {
        assertEquals(1f, TestSupport.scalar(r.get(0)));
        float l = TestSupport.scalar(r.get(1));
        // Each row: logits (5 at the target, 1 at one distractor, 0 twice).
        double expected = -Math.log(Math.exp(5) / (Math.exp(5) + Math.exp(1) + 2));
        assertEquals(expected, l, 1e-5);
        assertEquals(5f, ((TFloat32) r.get(2)).getFloat(1, 2, 2));
        assertEquals(10f, ((TFloat32) r.get(4)).getFloat(1, 2, 2), "temperature 0.5 doubles");
        assertTrue(TestSupport.scalar(r.get(3)) < l);
      }
    }
  }

  @Test
  void lossGradientMatchesFiniteDifferences() {
    float[] v0 = TestSupport.randomFloats(B * M * D, 1);
    float[] h0 = TestSupport.randomFloats(B * M * D, 2);
    for (boolean wrtQueries : new boolean[] {true, false}) {
      try (Graph g = new Graph()) {
        Ops tf = Ops.create(g);
        Placeholder<TFloat32> x = tf.placeholder(TFloat32.class, Placeholder.shape(SHAPE));
        var fixed = tf.constant(SHAPE, DataBuffers.of(wrtQueries ? h0 : v0));
        var loss = wrtQueries ? SelfieLoss.of(tf, x, fixed, 2.0)
            : SelfieLoss.of(tf, fixed, x, 2.0);
        var grad = TestSupport.gradients(g, loss.loss(), List.of(x))[0];
        try (Session s = new Session(g)) {
          TestSupport.assertGradientMatches(s, loss.loss(), grad, x, SHAPE,
              wrtQueries ? v0 : h0, 1e-2, 2e-3);
        }
      }
    }
  }
}
