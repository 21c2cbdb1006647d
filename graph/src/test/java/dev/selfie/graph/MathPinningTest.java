package dev.selfie.graph;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TInt64;

/**
 * Tests that pin the pretraining math to DESIGN's equations with inputs on which the usual
 * mistakes (a transposed loss, a softmax over the wrong axis, gathering from image 0, row and
 * column swapped, context leaking from masked patches) give different numbers.
 */
class MathPinningTest {

  // ---------------------------------------------------------------- loss

  /** Loss of DESIGN 1.6 computed in double: mean over (b, j) of -log softmax_k(v_j.h_k/T)[j]. */
  private static double referenceLoss(float[] v, float[] h, int b, int m, int d, double temp,
      boolean transposed, boolean wrongAxis) {
    double total = 0;
    for (int i = 0; i < b; i++) {
      double[][] logits = new double[m][m];
      for (int j = 0; j < m; j++) {
        for (int k = 0; k < m; k++) {
          double dot = 0;
          for (int e = 0; e < d; e++) {
            int q = transposed ? k : j;
            int t = transposed ? j : k;
            dot += (double) v[(i * m + q) * d + e] * h[(i * m + t) * d + e];
          }
          logits[j][k] = dot / temp;
        }
      }
      for (int j = 0; j < m; j++) {
        double max = Double.NEGATIVE_INFINITY;
        for (int k = 0; k < m; k++) {
          max = Math.max(max, wrongAxis ? logits[k][j] : logits[j][k]);
        }
        double z = 0;
        for (int k = 0; k < m; k++) {
          z += Math.exp((wrongAxis ? logits[k][j] : logits[j][k]) - max);
        }
        total += -(logits[j][j] - max - Math.log(z));
      }
    }
    return total / (b * m);
  }

  @Test
  void lossIsSoftmaxOverTargetsOfQueryDotTarget() {
    int b = 2;
    int m = 3;
    int d = 5;
    float[] v = TestSupport.randomFloats(b * m * d, 11);
    float[] h = TestSupport.randomFloats(b * m * d, 12);
    for (int i = 0; i < h.length; i++) {
      h[i] = 1.5f * h[i] + (i % 3 == 0 ? 0.7f : -0.2f); // asymmetric: v h^T != h v^T
    }
    double temp = 0.5;
    double right = referenceLoss(v, h, b, m, d, temp, false, false);
    // the test can tell the mistakes apart on this input
    assertTrue(Math.abs(right - referenceLoss(v, h, b, m, d, temp, true, false)) > 0.05);
    assertTrue(Math.abs(right - referenceLoss(v, h, b, m, d, temp, false, true)) > 0.05);
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Shape s3 = Shape.of(b, m, d);
      var loss = SelfieLoss.of(tf, tf.constant(s3, DataBuffers.of(v)),
          tf.constant(s3, DataBuffers.of(h)), temp);
      try (Session s = new Session(g);
          Result r = s.runner().fetch(loss.loss()).fetch(loss.logits()).run()) {
        assertEquals(right, TestSupport.scalar(r.get(0)), 1e-5);
        float[] logits = TestSupport.floats(r.get(1));
        for (int i = 0; i < b; i++) {
          for (int j = 0; j < m; j++) {
            for (int k = 0; k < m; k++) {
              double dot = 0;
              for (int e = 0; e < d; e++) {
                dot += (double) v[(i * m + j) * d + e] * h[(i * m + k) * d + e];
              }
              assertEquals(dot / temp, logits[(i * m + j) * m + k], 1e-4,
                  "logits[" + i + "," + j + "," + k + "] = v_j . h_k / T");
            }
          }
        }
      }
    }
  }

  // ---------------------------------------------------------------- gather

  @Test
  void gatherPatchesTakesEachImagesOwnRows() {
    int b = 3;
    int n = 4;
    int d = 2;
    float[] flat = new float[b * n * d];
    for (int i = 0; i < flat.length; i++) {
      flat[i] = 1000 * (i / (n * d)) + 10 * ((i / d) % n) + (i % d); // image*1000 + loc*10 + e
    }
    int[] idx = {3, 0, 1, 2, 2, 1}; // [B=3, k=2]
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Operand<TFloat32> out = Selfie.gatherPatches(tf,
          tf.constant(Shape.of(b * n, d), DataBuffers.of(flat)),
          tf.constant(Shape.of(b, 2), DataBuffers.of(idx, false, false)), n);
      try (Session s = new Session(g); Result r = s.runner().fetch(out).run()) {
        assertEquals(Shape.of(b, 2, d), r.get(0).shape());
        float[] got = TestSupport.floats(r.get(0));
        float[] want = new float[b * 2 * d];
        for (int i = 0; i < b; i++) {
          for (int j = 0; j < 2; j++) {
            for (int e = 0; e < d; e++) {
              want[(i * 2 + j) * d + e] = 1000 * i + 10 * idx[i * 2 + j] + e;
            }
          }
        }
        assertArrayEquals(want, got); // e.g. out[2, 0] = image 2's location 2 = 2020, 2021
      }
    }
  }

  // ---------------------------------------------------------------- position queries

  @Test
  void positionQueriesUseRowThenColumn() {
    ModelConfig c = ModelConfig.preset("tiny");       // g = 4, d = 32
    int g = c.grid();
    int d = c.d();
    float[] rows = new float[g * d];
    float[] cols = new float[g * d];
    for (int r = 0; r < g; r++) {
      for (int e = 0; e < d; e++) {
        rows[r * d + e] = 100 * (r + 1);               // E_row[r] = 100 (r + 1)
        cols[r * d + e] = r + 1;                       // E_col[c] = c + 1
      }
    }
    float[] u = TestSupport.randomFloats(2 * d, 3);
    int[] masked = {1, 4, 7, 14}; // [B=2, m=2]: (0,1) (1,0) | (1,3) (3,2)
    try (Graph gr = new Graph()) {
      Ops tf = Ops.create(gr);
      VarStore vars = new VarStore(tf, 1);
      Operand<TFloat32> v = Queries.positionQueries(tf, vars, c,
          tf.constant(Shape.of(2, d), DataBuffers.of(u)),
          tf.constant(Shape.of(2, 2), DataBuffers.of(masked, false, false)));
      var setRows = tf.assign(vars.get(Selfie.ROW_EMBEDDING).variable(),
          tf.constant(Shape.of(g, d), DataBuffers.of(rows)));
      var setCols = tf.assign(vars.get(Selfie.COL_EMBEDDING).variable(),
          tf.constant(Shape.of(g, d), DataBuffers.of(cols)));
      try (Session s = new Session(gr)) {
        s.initialize();
        s.runner().addTarget(setRows).addTarget(setCols).run().close();
        try (Result r = s.runner().fetch(v).run()) {
          float[] got = TestSupport.floats(r.get(0));
          for (int b = 0; b < 2; b++) {
            for (int j = 0; j < 2; j++) {
              int l = masked[b * 2 + j];
              float pos = 100 * (l / g + 1) + (l % g + 1);
              for (int e = 0; e < d; e++) {
                assertEquals(u[b * d + e] + pos, got[(b * 2 + j) * d + e], 1e-4,
                    "v[" + b + "," + j + "] for location " + l + " = u + E_row[" + l / g
                        + "] + E_col[" + l % g + "]");
              }
            }
          }
        }
      }
    }
  }

  // ---------------------------------------------------------------- no leak

  @Test
  void pooledContextIgnoresMaskedPixels() {
    ModelConfig c = ModelConfig.preset("tiny");
    int b = 3;
    int size = c.imageSize();
    int p = c.patchSize();
    int g = c.grid();
    int ch = c.channels();
    try (Graph gr = new Graph()) {
      Ops tf = Ops.create(gr);
      VarStore vars = new VarStore(tf, 2);
      Placeholder<TFloat32> x = TestSupport.images(tf, c);
      Operand<TInt64> seed = tf.constant(new long[] {5, 9});
      Selfie.PretrainOutputs out = Selfie.pretrain(tf, vars, c, x, seed, false);
      float[] images = TestSupport.randomFloats(b * size * size * ch, 21);
      try (Session s = new Session(gr)) {
        s.initialize();
        float[] u1;
        float[] loss1;
        int[] masked;
        try (TFloat32 t = TFloat32.tensorOf(Shape.of(b, size, size, ch), DataBuffers.of(images));
            Result r = s.runner().feed(x, t).fetch(out.pooled()).fetch(out.masked())
                .fetch(out.logits()).run()) {
          u1 = TestSupport.floats(r.get(0));
          masked = TestSupport.ints(r.get(1));
          loss1 = TestSupport.floats(r.get(2));
        }
        // Change every pixel of the masked patches (and nothing else).
        float[] changed = images.clone();
        Random rnd = new Random(3);
        int m = c.numMasked();
        for (int i = 0; i < b; i++) {
          for (int j = 0; j < m; j++) {
            int l = masked[i * m + j];
            for (int y = (l / g) * p; y < (l / g + 1) * p; y++) {
              for (int xx = (l % g) * p; xx < (l % g + 1) * p; xx++) {
                for (int k = 0; k < ch; k++) {
                  changed[((i * size + y) * size + xx) * ch + k] = 3 * (float) rnd.nextGaussian();
                }
              }
            }
          }
        }
        try (TFloat32 t = TFloat32.tensorOf(Shape.of(b, size, size, ch), DataBuffers.of(changed));
            Result r = s.runner().feed(x, t).fetch(out.pooled()).fetch(out.masked())
                .fetch(out.logits()).run()) {
          assertArrayEquals(masked, TestSupport.ints(r.get(1)), "same seed, same mask");
          assertArrayEquals(u1, TestSupport.floats(r.get(0)), 1e-6f,
              "u must depend on the context patches only");
          float[] loss2 = TestSupport.floats(r.get(2));
          double diff = 0;
          for (int i = 0; i < loss1.length; i++) {
            diff = Math.max(diff, Math.abs(loss1[i] - loss2[i]));
          }
          assertTrue(diff > 1e-3, "the logits see the changed masked patches (targets)");
        }
      }
    }
  }
}
