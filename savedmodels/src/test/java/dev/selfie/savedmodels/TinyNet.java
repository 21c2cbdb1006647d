package dev.selfie.savedmodels;

import dev.selfie.graph.Endpoints;
import dev.selfie.graph.VarStore;
import java.util.List;
import java.util.Random;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Signature;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.StdArrays;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.op.nn.FusedBatchNorm;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt64;
import org.tensorflow.types.TUint8;

/**
 * A small inference graph for tests, built the way the real model is: every weight from a
 * {@link VarStore} (explicit VariableV2 names), signature names from {@link Endpoints}.
 *
 * <p>{@code images [N, S, S, 3] uint8 -> x = images / 127.5 - 1 -> conv 3x3 (C filters, SAME)
 * -> batch norm (inference: moving statistics) -> relu -> mean over H, W -> embedding [N, C]
 * -> dense -> logits [N, K]}; probabilities = softmax(logits), classes = argmax (int64).
 *
 * <p>Initial values are drawn from {@code new Random(seed)} (BN moving variance in [0.5, 1.5]),
 * so two graphs built with different seeds have different weights.
 */
public final class TinyNet {
  public static final int SIZE = 8;
  public static final int CHANNELS = 4;
  public static final int CLASSES = 5;

  final Operand<TUint8> images;
  final Operand<TFloat32> embedding;
  final Operand<TFloat32> logits;
  final Operand<TFloat32> probabilities;
  final Operand<TInt64> classes;
  final VarStore vars;

  /** Variable names, in creation order. */
  public static final List<String> NAMES =
      List.of(
          "net/conv/kernel",
          "net/bn/gamma",
          "net/bn/beta",
          "net/bn/moving_mean",
          "net/bn/moving_variance",
          "net/dense/kernel",
          "net/dense/bias");

  TinyNet(Graph g, long seed) {
    this(g, seed, CLASSES);
  }

  /** @param numClasses width of the dense layer (another value makes a shape mismatch) */
  TinyNet(Graph g, long seed, int numClasses) {
    Ops tf = Ops.create(g);
    vars = new VarStore(tf);
    Random rnd = new Random(seed);
    images =
        tf.withName(Endpoints.IMAGES)
            .placeholder(TUint8.class, Placeholder.shape(Shape.of(-1, SIZE, SIZE, 3)));
    Operand<TFloat32> x =
        tf.math.sub(
            tf.math.mul(tf.dtypes.cast(images, TFloat32.class), tf.constant(1f / 127.5f)),
            tf.constant(1f));
    Operand<TFloat32> kernel =
        var("net/conv/kernel", Shape.of(3, 3, 3, CHANNELS), VarStore.Kind.KERNEL, rnd, 0.3f, 0f);
    Operand<TFloat32> conv = tf.nn.conv2d(x, kernel, List.of(1L, 1L, 1L, 1L), "SAME");
    Operand<TFloat32> gamma =
        var("net/bn/gamma", Shape.of(CHANNELS), VarStore.Kind.TRAINABLE, rnd, 0.2f, 1f);
    Operand<TFloat32> beta =
        var("net/bn/beta", Shape.of(CHANNELS), VarStore.Kind.TRAINABLE, rnd, 0.2f, 0f);
    Operand<TFloat32> mean =
        var("net/bn/moving_mean", Shape.of(CHANNELS), VarStore.Kind.STATE, rnd, 0.2f, 0f);
    Operand<TFloat32> variance =
        var("net/bn/moving_variance", Shape.of(CHANNELS), VarStore.Kind.STATE, rnd, 0.5f, 1f);
    FusedBatchNorm<TFloat32, TFloat32> bn =
        tf.nn.fusedBatchNorm(
            conv, gamma, beta, mean, variance,
            FusedBatchNorm.isTraining(false), FusedBatchNorm.epsilon(1e-3f));
    Operand<TFloat32> h = tf.nn.relu(bn.y());
    embedding =
        tf.withName("embedding_out").math.mean(h, tf.constant(new int[] {1, 2}));
    Operand<TFloat32> w =
        var("net/dense/kernel", Shape.of(CHANNELS, numClasses), VarStore.Kind.KERNEL, rnd, 0.5f, 0f);
    Operand<TFloat32> b =
        var("net/dense/bias", Shape.of(numClasses), VarStore.Kind.TRAINABLE, rnd, 0.1f, 0f);
    logits = tf.withName("logits_out").math.add(tf.linalg.matMul(embedding, w), b);
    probabilities = tf.withName("probabilities_out").nn.softmax(logits);
    classes = tf.withName("classes_out").math.argMax(logits, tf.constant(1), TInt64.class);
  }

  /** A variable whose initial value is {@code offset + uniform(-scale, scale)}. */
  private Operand<TFloat32> var(
      String name, Shape shape, VarStore.Kind kind, Random rnd, float scale, float offset) {
    float[] v = new float[(int) shape.size()];
    for (int i = 0; i < v.length; i++) {
      v[i] = offset + (rnd.nextFloat() * 2 - 1) * scale;
    }
    return vars.variable(
        name, shape, kind,
        (init, s) -> init.reshape(init.constant(v), init.constant(s.asArray())));
  }

  Signature servingSignature() {
    return Signature.builder()
        .key(Endpoints.SERVING_DEFAULT)
        .input(Endpoints.IMAGES, images)
        .output(Endpoints.LOGITS, logits)
        .output(Endpoints.PROBABILITIES, probabilities)
        .output(Endpoints.CLASSES, classes)
        .build();
  }

  Signature embeddingSignature() {
    return Signature.builder()
        .key(Endpoints.EMBEDDING)
        .input(Endpoints.IMAGES, images)
        .output(Endpoints.EMBEDDING_OUTPUT, embedding)
        .build();
  }

  /** Deterministic test images {@code [n, S, S, 3]} covering the whole 0..255 range. */
  public static byte[][][][] images(int n, long seed) {
    Random rnd = new Random(seed);
    byte[][][][] out = new byte[n][SIZE][SIZE][3];
    for (byte[][][] img : out) {
      for (byte[][] row : img) {
        for (byte[] px : row) {
          rnd.nextBytes(px);
        }
      }
    }
    return out;
  }

  public static TUint8 imageTensor(byte[][][][] images) {
    return TUint8.tensorOf(StdArrays.ndCopyOf(images));
  }
}
