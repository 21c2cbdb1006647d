package dev.selfie.graph;

import java.util.List;
import java.util.Random;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Output;
import org.tensorflow.Session;
import org.tensorflow.Tensor;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TInt64;

/** Helpers for running small graphs in tests. */
final class TestSupport {
  private TestSupport() {}

  static Placeholder<TFloat32> images(Ops tf, ModelConfig c) {
    return tf.placeholder(TFloat32.class, Placeholder.shape(
        Shape.of(-1, c.imageSize(), c.imageSize(), c.channels())));
  }

  static Placeholder<TInt64> seed(Ops tf) {
    return tf.placeholder(TInt64.class, Placeholder.shape(Shape.of(2)));
  }

  static TFloat32 randomImages(int b, ModelConfig c, long seed) {
    int s = c.imageSize();
    float[] data = randomFloats(b * s * s * c.channels(), seed);
    return TFloat32.tensorOf(Shape.of(b, s, s, c.channels()), DataBuffers.of(data));
  }

  static float[] randomFloats(int n, long seed) {
    Random r = new Random(seed);
    float[] data = new float[n];
    for (int i = 0; i < n; i++) {
      data[i] = (float) r.nextGaussian();
    }
    return data;
  }

  static TInt64 seedTensor(long a, long b) {
    return TInt64.vectorOf(a, b);
  }

  /** Copies a float tensor's values (row-major). */
  static float[] floats(Tensor t) {
    TFloat32 f = (TFloat32) t;
    float[] out = new float[(int) f.shape().size()];
    f.copyTo(DataBuffers.of(out, false, false));
    return out;
  }

  static int[] ints(Tensor t) {
    TInt32 f = (TInt32) t;
    int[] out = new int[(int) f.shape().size()];
    f.copyTo(DataBuffers.of(out, false, false));
    return out;
  }

  static float scalar(Tensor t) {
    return ((TFloat32) t).getFloat();
  }

  static double norm(float[] a) {
    double s = 0;
    for (float v : a) {
      s += (double) v * v;
    }
    return Math.sqrt(s);
  }

  /** Gradients of {@code y} with respect to the given operands. */
  static Output<?>[] gradients(Graph g, Operand<?> y, List<? extends Operand<?>> xs) {
    Output<?>[] x = xs.stream().map(Operand::asOutput).toArray(Output<?>[]::new);
    return g.addGradients(y.asOutput(), x);
  }

  static Session session(Graph g) {
    Session s = new Session(g);
    s.initialize();
    return s;
  }

  /** Fetches one float operand (no feeds). */
  static float[] fetch(Session s, Operand<?> out) {
    try (org.tensorflow.Result r = s.runner().fetch(out).run()) {
      return floats(r.get(0));
    }
  }

  /** Runs {@code out} with {@code x} fed with {@code values} of {@code shape}. */
  static float[] eval(Session s, Operand<?> out, Placeholder<TFloat32> x, Shape shape,
      float[] values) {
    try (TFloat32 t = TFloat32.tensorOf(shape, DataBuffers.of(values));
        org.tensorflow.Result r = s.runner().feed(x, t).fetch(out).run()) {
      return floats(r.get(0));
    }
  }

  /**
   * Central finite differences of the scalar {@code y} with respect to every element of {@code
   * x} (at {@code x0}) against the analytic gradient {@code grad}; tolerance relative to the
   * largest gradient element.
   */
  static void assertGradientMatches(Session s, Operand<TFloat32> y, Operand<?> grad,
      Placeholder<TFloat32> x, Shape shape, float[] x0, double eps, double relTol) {
    float[] analytic = eval(s, grad, x, shape, x0);
    double max = 0;
    for (float v : analytic) {
      max = Math.max(max, Math.abs(v));
    }
    org.junit.jupiter.api.Assertions.assertTrue(max > 1e-4, "analytic gradient is ~0: " + max);
    for (int i = 0; i < x0.length; i++) {
      float[] plus = x0.clone();
      float[] minus = x0.clone();
      plus[i] += (float) eps;
      minus[i] -= (float) eps;
      double numeric = ((double) eval(s, y, x, shape, plus)[0] - eval(s, y, x, shape, minus)[0])
          / (2 * eps);
      org.junit.jupiter.api.Assertions.assertEquals(numeric, analytic[i], relTol * max + 1e-4,
          "d y / d x[" + i + "]");
    }
  }
}
