package dev.selfie.training;

import dev.selfie.graph.VarStore;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;

/**
 * A linear softmax classifier built through a {@link VarStore}, plus its forward pass and
 * gradients in Java doubles for hand-recomputed optimizer steps.
 *
 * <p>x {@code [B=4, D=3]}, W {@code [3, 2]} (KERNEL), b {@code [2]} (TRAINABLE), a STATE variable
 * {@code bn/moving_mean [2]} updated as {@code 0.5*m + 0.5*mean(logits)} (a BN-like update).
 */
final class TinyModel {
  static final double[][] X = {{1, 2, -1}, {0.5, -1, 2}, {-2, 0.3, 1}, {1.5, 1, 0}};
  static final int[] LABELS = {0, 1, 1, 0};
  static final float[][] W0 = {{0.1f, -0.2f}, {0.3f, 0.05f}, {-0.4f, 0.2f}};
  static final float[] B0 = {0.01f, -0.02f};

  final Graph graph;
  final Ops tf;
  final VarStore vars;
  final Operand<TFloat32> logits; // [B, 2]
  final Operand<TFloat32> loss; // []

  TinyModel(Graph g) {
    this.graph = g;
    this.tf = Ops.create(g);
    this.vars = new VarStore(tf);
    Operand<TFloat32> w = vars.variable("dense/kernel", org.tensorflow.ndarray.Shape.of(3, 2),
        VarStore.Kind.KERNEL, (o, s) -> o.constant(W0));
    Operand<TFloat32> b = vars.variable("dense/bias", org.tensorflow.ndarray.Shape.of(2),
        VarStore.Kind.TRAINABLE, (o, s) -> o.constant(B0));
    vars.variable("bn/moving_mean", org.tensorflow.ndarray.Shape.of(2), VarStore.Kind.STATE,
        (o, s) -> o.constant(new float[] {0f, 0f}));
    float[][] x = new float[X.length][];
    float[][] y = new float[X.length][2];
    for (int i = 0; i < X.length; i++) {
      x[i] = new float[X[i].length];
      for (int j = 0; j < X[i].length; j++) {
        x[i][j] = (float) X[i][j];
      }
      y[i][LABELS[i]] = 1f;
    }
    logits = tf.nn.biasAdd(tf.linalg.matMul(tf.constant(x), w), b);
    loss = tf.math.mean(
        tf.nn.softmaxCrossEntropyWithLogits(logits, tf.constant(y)).loss(), tf.constant(0));
    Operand<TFloat32> batchMean = tf.math.mean(logits, tf.constant(0));
    VarStore.Entry mm = vars.get("bn/moving_mean");
    vars.addUpdate(tf.assign(mm.variable(), tf.math.add(
        tf.math.mul(tf.constant(0.5f), tf.identity(mm.variable())),
        tf.math.mul(tf.constant(0.5f), batchMean))));
  }

  /** Parameters in doubles: w [3][2], b [2]. */
  static final class Params {
    double[][] w = new double[3][2];
    double[] b = new double[2];

    Params() {
      for (int i = 0; i < 3; i++) {
        for (int j = 0; j < 2; j++) {
          w[i][j] = W0[i][j];
        }
      }
      for (int j = 0; j < 2; j++) {
        b[j] = B0[j];
      }
    }
  }

  /** logits [B][2]. */
  static double[][] forward(Params p) {
    double[][] out = new double[X.length][2];
    for (int n = 0; n < X.length; n++) {
      for (int k = 0; k < 2; k++) {
        double s = p.b[k];
        for (int d = 0; d < 3; d++) {
          s += X[n][d] * p.w[d][k];
        }
        out[n][k] = s;
      }
    }
    return out;
  }

  static double loss(Params p) {
    double[][] z = forward(p);
    double total = 0;
    for (int n = 0; n < z.length; n++) {
      double mx = Math.max(z[n][0], z[n][1]);
      double lse = mx + Math.log(Math.exp(z[n][0] - mx) + Math.exp(z[n][1] - mx));
      total += lse - z[n][LABELS[n]];
    }
    return total / z.length;
  }

  /** Gradients {dW [3][2], db [1][2]} of the mean cross-entropy. */
  static double[][][] grads(Params p) {
    double[][] z = forward(p);
    double[][] dw = new double[3][2];
    double[][] db = new double[1][2];
    for (int n = 0; n < z.length; n++) {
      double mx = Math.max(z[n][0], z[n][1]);
      double e0 = Math.exp(z[n][0] - mx);
      double e1 = Math.exp(z[n][1] - mx);
      double[] dz = {e0 / (e0 + e1), e1 / (e0 + e1)};
      dz[LABELS[n]] -= 1;
      for (int k = 0; k < 2; k++) {
        dz[k] /= z.length;
        db[0][k] += dz[k];
        for (int d = 0; d < 3; d++) {
          dw[d][k] += X[n][d] * dz[k];
        }
      }
    }
    return new double[][][] {dw, db};
  }
}
