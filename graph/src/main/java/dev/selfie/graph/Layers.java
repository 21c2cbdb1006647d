package dev.selfie.graph;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.function.BiFunction;
import org.tensorflow.Operand;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.math.Mean;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TInt64;

/**
 * Small building blocks shared by the ResNet and the transformer: initializers, dense, layer
 * norm, GELU, dropout, seeds. Static functions of {@code (Ops tf, VarStore vars, String name,
 * Operand x, ...)}; every weight is created through {@link VarStore#variable} under the explicit
 * full name {@code name + "/kernel"} etc.
 *
 * <p>Builders below the top level do not open a name sub-scope per layer: in TF Java 1.1.0 every
 * {@code Ops.withSubScope} scans all operations of the graph (NameScope.importIdsFrom), which
 * made building the ResNet-50 pretraining graph take ~25 s instead of well under 1 s. Ops keep
 * their default names; variables carry the explicit names that form the contract.
 */
public final class Layers {
  private Layers() {}

  /** 1 / stddev of a standard normal truncated at +-2 (to correct truncated-normal scales). */
  private static final float TRUNCATED_STD_CORRECTION = 1f / 0.87962566f;

  // ---------------------------------------------------------------- initializers

  /**
   * Truncated normal (cut at +-2 stddev) of standard deviation {@code stddev}, drawn by a
   * stateless op seeded by {@code [vars.initSeed(), hash(name)]}: reproducible per (seed, name).
   */
  public static BiFunction<Ops, Shape, Operand<TFloat32>> truncatedNormal(
      VarStore vars, String name, double stddev) {
    long[] seed = {vars.initSeed(), fnv1a64(name)};
    return (ops, shape) ->
        ops.math.mul(
            ops.random.statelessTruncatedNormal(ops.constant(shape), ops.constant(seed)),
            ops.constant((float) stddev));
  }

  /** He (Kaiming) normal for a ReLU network: truncated normal with variance 2 / fanIn. */
  public static BiFunction<Ops, Shape, Operand<TFloat32>> heNormal(
      VarStore vars, String name, long fanIn) {
    return truncatedNormal(vars, name, Math.sqrt(2.0 / fanIn) * TRUNCATED_STD_CORRECTION);
  }

  /** All {@code value}. */
  public static BiFunction<Ops, Shape, Operand<TFloat32>> constantInit(float value) {
    return (ops, shape) -> ops.fill(ops.constant(shape), ops.constant(value));
  }

  /** 64-bit FNV-1a of a UTF-8 string: a stable per-name seed. */
  static long fnv1a64(String s) {
    long h = 0xcbf29ce484222325L;
    for (byte b : s.getBytes(StandardCharsets.UTF_8)) {
      h ^= (b & 0xff);
      h *= 0x100000001b3L;
    }
    return h;
  }

  // ---------------------------------------------------------------- seeds and shapes

  /** Odd 64-bit constants of the stream-key mix in {@link #subSeed}. */
  private static final long SEED_MULTIPLIER = 0xBF58476D1CE4E5B9L;
  private static final long STREAM_KEY = 0x9E3779B97F4A7C15L;

  /**
   * A stateless-random seed derived from {@code seed} [2] for stream {@code k}: {@code [seed[0] *
   * M + (k + 1) * K, seed[1]]} (M, K odd 64-bit constants, arithmetic mod 2^64). Training feeds
   * {@code [runSeed, step]}, so every step and every random op of the graph draws an independent,
   * reproducible stream.
   *
   * <p>Nested derivations do not collide: {@code subSeed(subSeed(s, a), b)} is {@code s*M^2 +
   * (a+1)*K*M + (b+1)*K}, which differs from {@code subSeed(subSeed(s, a'), b')} whenever {@code
   * (a, b) != (a', b')} (for keys below 2^32), unlike an additive offset, where layer i's stream
   * 3 and layer i+1's stream 2 were the same stream.
   */
  public static Operand<TInt64> subSeed(Ops tf, Operand<TInt64> seed, long k) {
    if (seed == null) {
      throw new IllegalArgumentException(
          "a seed operand (int64 [2]) is required for random ops (masking, dropout in training)");
    }
    if (k < 0) {
      throw new IllegalArgumentException("subSeed: stream key must be >= 0, got " + k);
    }
    return tf.math.add(tf.math.mul(seed, tf.constant(new long[] {SEED_MULTIPLIER, 1L})),
        tf.constant(new long[] {(k + 1) * STREAM_KEY, 0L}));
  }

  /** The host-side value of {@link #subSeed} for seed[0] (for tests and documentation). */
  public static long subSeedValue(long seed0, long k) {
    return seed0 * SEED_MULTIPLIER + (k + 1) * STREAM_KEY;
  }

  /** The dynamic leading dimension of {@code x}, a scalar int32. */
  public static Operand<TInt32> batchSize(Ops tf, Operand<?> x) {
    return tf.gather(tf.shape(x), tf.constant(0), tf.constant(0));
  }

  /** The static size of the last dimension of {@code x}; throws if unknown. */
  public static int lastDim(Operand<?> x, String what) {
    Shape s = x.shape();
    if (s.isUnknown() || s.numDimensions() == 0 || s.size(s.numDimensions() - 1) < 0) {
      throw new IllegalArgumentException(
          what + ": the last dimension of the input must be static, got shape " + s);
    }
    return (int) s.size(s.numDimensions() - 1);
  }

  // ---------------------------------------------------------------- layers

  /**
   * Dense layer on the last axis: {@code x [..., in] -> x W + b [..., units]} with {@code
   * name/kernel} [in, units] (KERNEL, truncated normal {@code stddev}) and, if {@code bias},
   * {@code name/bias} [units] (TRAINABLE, zeros). Works for any static rank >= 2.
   */
  public static Operand<TFloat32> dense(
      Ops tf, VarStore vars, String name, Operand<TFloat32> x, int units, boolean bias,
      double stddev) {
    int in = lastDim(x, name);
    int rank = x.shape().numDimensions();
    Operand<TFloat32> w = vars.variable(name + "/kernel", Shape.of(in, units),
        VarStore.Kind.KERNEL, truncatedNormal(vars, name + "/kernel", stddev));
    Operand<TFloat32> x2 = rank == 2 ? x : tf.reshape(x, tf.constant(new int[] {-1, in}));
    Operand<TFloat32> y = tf.linalg.matMul(x2, w);
    if (bias) {
      Operand<TFloat32> b = vars.variable(name + "/bias", Shape.of(units),
          VarStore.Kind.TRAINABLE, constantInit(0f));
      y = tf.nn.biasAdd(y, b);
    }
    if (rank == 2) {
      return y;
    }
    Operand<TInt32> lead =
        tf.slice(tf.shape(x), tf.constant(new int[] {0}), tf.constant(new int[] {rank - 1}));
    return tf.reshape(y, tf.concat(List.of(lead, tf.constant(new int[] {units})), tf.constant(0)));
  }

  /**
   * Layer norm over the last axis: {@code (x - mean) / sqrt(var + eps) * gamma + beta}, x [..., D]
   * -> [..., D]; {@code name/gamma} (ones) and {@code name/beta} (zeros) [D], TRAINABLE.
   */
  public static Operand<TFloat32> layerNorm(
      Ops tf, VarStore vars, String name, Operand<TFloat32> x, double eps) {
    int dim = lastDim(x, name);
    Operand<TFloat32> gamma = vars.variable(name + "/gamma", Shape.of(dim),
        VarStore.Kind.TRAINABLE, constantInit(1f));
    Operand<TFloat32> beta = vars.variable(name + "/beta", Shape.of(dim),
        VarStore.Kind.TRAINABLE, constantInit(0f));
    Operand<TInt32> axis = tf.constant(-1);
    Operand<TFloat32> mean = tf.math.mean(x, axis, Mean.keepDims(true));
    Operand<TFloat32> centered = tf.math.sub(x, mean);
    Operand<TFloat32> var = tf.math.mean(tf.math.square(centered), axis, Mean.keepDims(true));
    Operand<TFloat32> normed =
        tf.math.mul(centered, tf.math.rsqrt(tf.math.add(var, tf.constant((float) eps))));
    return tf.math.add(tf.math.mul(normed, gamma), beta);
  }

  /** Exact GELU: {@code 0.5 x (1 + erf(x / sqrt 2))}, elementwise. */
  public static Operand<TFloat32> gelu(Ops tf, Operand<TFloat32> x) {
    Operand<TFloat32> cdf = tf.math.mul(tf.constant(0.5f),
        tf.math.add(tf.constant(1f),
            tf.math.erf(tf.math.mul(x, tf.constant((float) (1 / Math.sqrt(2)))))));
    return tf.math.mul(x, cdf);
  }

  /**
   * Inverted dropout: in training, zero each element with probability {@code rate} (stateless,
   * from {@code seed} [2]) and scale the rest by {@code 1 / (1 - rate)}; otherwise the identity.
   */
  public static Operand<TFloat32> dropout(
      Ops tf, Operand<TFloat32> x, double rate, Operand<TInt64> seed, boolean training) {
    if (!training || rate == 0) {
      return x;
    }
    Operand<TFloat32> u = tf.random.statelessRandomUniform(tf.shape(x), seed);
    Operand<TFloat32> keep =
        tf.dtypes.cast(tf.math.greaterEqual(u, tf.constant((float) rate)), TFloat32.class);
    return tf.math.mul(x, tf.math.mul(keep, tf.constant((float) (1 / (1 - rate)))));
  }
}
