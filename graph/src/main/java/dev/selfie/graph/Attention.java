package dev.selfie.graph;

import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.train.BatchMatMul;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TInt64;

/**
 * The attention pooling network A: a pre-LN transformer encoder over {@code [u0, h_1..h_T]} whose
 * output at u0's slot is the pooled vector u.
 *
 * <p>Variable names, all under {@link #PREFIX}:
 * <pre>
 * attention/u0                                       [d]        TRAINABLE
 * attention/layer{i}/ln1|ln2/{gamma,beta}            [d]        TRAINABLE
 * attention/layer{i}/attn/query|key|value|output/kernel  [d, d] KERNEL
 * attention/layer{i}/attn/query|value|output/bias    [d]        TRAINABLE (no key bias, below)
 * attention/layer{i}/mlp/fc1/kernel [d, ffn], fc1/bias [ffn], fc2/kernel [ffn, d], fc2/bias [d]
 * attention/final_ln/{gamma,beta}                    [d]
 * </pre>
 * The key projection has no bias: a key bias b adds {@code q . b} to every score of a query row,
 * which the softmax cancels, so its gradient is identically zero.
 *
 * <p>Dense kernels, u0: truncated normal, stddev 0.02 (BERT); biases 0; LN gamma 1, beta 0.
 */
public final class Attention {
  private Attention() {}

  /** Prefix of every attention-pooling variable. */
  public static final String PREFIX = "attention";

  /** BERT's initializer scale for transformer weights. */
  public static final double INIT_STDDEV = 0.02;

  /**
   * Multi-head self-attention: x [B, T, D] -> [B, T, D].
   * <pre>
   * q, k, v = x Wq + bq, x Wk, x Wv + bv         [B, T, D] -> [B, H, T, D/H]
   * a = dropout(softmax(q k^T / sqrt(D/H)))      [B, H, T, T]
   * return (a v merged back to [B, T, D]) Wo + bo
   * </pre>
   */
  public static Operand<TFloat32> multiHeadAttention(
      Ops tf, VarStore vars, String name, Operand<TFloat32> x, int heads, double dropout,
      Operand<TInt64> seed, boolean training) {
    return multiHeadAttention(tf, vars, name, x, heads, dropout, null, seed, training);
  }

  /**
   * Multi-head self-attention with an additive attention bias {@code bias} [T, T] (added to every
   * head's scores before the softmax; a large negative entry hides key t' from query t), or none
   * when {@code bias} is null (then the graph is exactly the unbiased one).
   */
  public static Operand<TFloat32> multiHeadAttention(
      Ops tf, VarStore vars, String name, Operand<TFloat32> x, int heads, double dropout,
      Operand<TFloat32> bias, Operand<TInt64> seed, boolean training) {
    int dim = Layers.lastDim(x, name);
    int t = (int) x.shape().size(1);
    int dh = dim / heads;
    Operand<TFloat32> q = splitHeads(tf, Layers.dense(tf, vars, name + "/query", x, dim, true,
        INIT_STDDEV), t, heads, dh);
    Operand<TFloat32> k = splitHeads(tf, Layers.dense(tf, vars, name + "/key", x, dim, false,
        INIT_STDDEV), t, heads, dh);
    Operand<TFloat32> v = splitHeads(tf, Layers.dense(tf, vars, name + "/value", x, dim, true,
        INIT_STDDEV), t, heads, dh);
    Operand<TFloat32> scores = tf.math.mul(
        tf.train.batchMatMul(q, k, TFloat32.class, BatchMatMul.adjY(true)),
        tf.constant((float) (1 / Math.sqrt(dh))));                     // [B, H, T, T]
    if (bias != null) {
      scores = tf.math.add(scores, bias);                              // [T, T] broadcast
    }
    Operand<TFloat32> probs = Layers.dropout(tf, tf.nn.softmax(scores), dropout,
        training ? Layers.subSeed(tf, seed, 0) : null, training);
    Operand<TFloat32> ctx = tf.train.batchMatMul(probs, v, TFloat32.class); // [B, H, T, dh]
    Operand<TFloat32> merged = tf.reshape(
        tf.linalg.transpose(ctx, tf.constant(new int[] {0, 2, 1, 3})),
        tf.constant(new int[] {-1, t, dim}));                            // [B, T, D]
    return Layers.dense(tf, vars, name + "/output", merged, dim, true, INIT_STDDEV);
  }

  /** [B, T, H*dh] -> [B, H, T, dh]. */
  private static Operand<TFloat32> splitHeads(
      Ops tf, Operand<TFloat32> x, int t, int heads, int dh) {
    return tf.linalg.transpose(tf.reshape(x, tf.constant(new int[] {-1, t, heads, dh})),
        tf.constant(new int[] {0, 2, 1, 3}));
  }

  /** Feed-forward block: x [B, T, D] -> fc2(gelu(fc1(x))) [B, T, D], hidden width {@code ffn}. */
  public static Operand<TFloat32> mlp(
      Ops tf, VarStore vars, String name, Operand<TFloat32> x, int ffn) {
    int dim = Layers.lastDim(x, name);
    Operand<TFloat32> h =
        Layers.gelu(tf, Layers.dense(tf, vars, name + "/fc1", x, ffn, true, INIT_STDDEV));
    return Layers.dense(tf, vars, name + "/fc2", h, dim, true, INIT_STDDEV);
  }

  /**
   * One pre-LN transformer layer, x [B, T, D] -> [B, T, D]:
   * {@code x = x + dropout(attn(ln1(x))); x = x + dropout(mlp(ln2(x)))}. Dropout (training only)
   * draws from {@code seed} [2] (three independent streams per layer).
   */
  public static Operand<TFloat32> transformerLayer(
      Ops tf, VarStore vars, String name, Operand<TFloat32> x, ModelConfig c,
      Operand<TInt64> seed, boolean training) {
    return transformerLayer(tf, vars, name, x, c, null, seed, training);
  }

  /** {@link #transformerLayer} whose self-attention adds {@code bias} [T, T] (null: none). */
  public static Operand<TFloat32> transformerLayer(
      Ops tf, VarStore vars, String name, Operand<TFloat32> x, ModelConfig c,
      Operand<TFloat32> bias, Operand<TInt64> seed, boolean training) {
    boolean drop = training && c.dropout() > 0;
    Operand<TFloat32> a = multiHeadAttention(tf, vars, name + "/attn",
        Layers.layerNorm(tf, vars, name + "/ln1", x, c.lnEpsilon()), c.heads(), c.dropout(),
        bias, drop ? Layers.subSeed(tf, seed, 1) : null, drop);
    x = tf.math.add(x, Layers.dropout(tf, a, c.dropout(), drop ? Layers.subSeed(tf, seed, 2) : null,
        drop));
    Operand<TFloat32> m = mlp(tf, vars, name + "/mlp",
        Layers.layerNorm(tf, vars, name + "/ln2", x, c.lnEpsilon()), c.ffn());
    return tf.math.add(x, Layers.dropout(tf, m, c.dropout(),
        drop ? Layers.subSeed(tf, seed, 3) : null, drop));
  }

  /**
   * Attention pooling A: h [B, T, d] (the patch embeddings to pool, in any order) -> u [B, d].
   * Prepends the learned query token u0 (one d-vector shared by all images), runs L transformer
   * layers and a final layer norm over {@code [u0, h_1..h_T]} [B, 1+T, d], and returns the output
   * at u0's slot. {@code seed} [2] drives dropout in training (may be null otherwise).
   */
  public static Operand<TFloat32> attentionPool(
      Ops tf, VarStore vars, ModelConfig c, Operand<TFloat32> h, Operand<TInt64> seed,
      boolean training) {
    int d = checkWidth(h, c);
    Operand<TFloat32> x = encoder(tf, vars, c,
        tf.concat(List.of(u0Tokens(tf, vars, h, d), h), tf.constant(1)), null, seed, training);
    Operand<TFloat32> first =
        tf.slice(x, tf.constant(new int[] {0, 0, 0}), tf.constant(new int[] {-1, 1, -1}));
    return tf.reshape(first, tf.constant(new int[] {-1, d}));         // [B, d]
  }

  /**
   * A's outputs with query tokens: u [B, d] and v [B, m, d].
   *
   * @param u output at u0's slot
   * @param queries outputs at the query tokens' slots
   */
  public record PooledWithQueries(Operand<TFloat32> u, Operand<TFloat32> queries) {}

  /**
   * Attention pooling with query tokens (query mode ATTEND): the sequence {@code [u0, h_1..h_T,
   * q_1..q_m]} [B, 1+T+m, d] through the same L layers and final layer norm as {@link
   * #attentionPool}. The attention bias ({@link #queryBias}) lets each query token see u0, the
   * h's and itself, and hides every query token from all other slots, so u (slot 0) is exactly
   * {@code attentionPool(h)} and the queries cannot see each other.
   *
   * @param h [B, T, d] the context tokens
   * @param q [B, m, d] the query tokens (positions of the masked locations, no content)
   */
  public static PooledWithQueries attentionPoolWithQueries(
      Ops tf, VarStore vars, ModelConfig c, Operand<TFloat32> h, Operand<TFloat32> q,
      Operand<TInt64> seed, boolean training) {
    int d = checkWidth(h, c);
    int t = (int) h.shape().size(1);
    int m = (int) q.shape().size(1);
    if (t < 0 || m < 0) {
      throw new IllegalArgumentException("attentionPoolWithQueries: need static T and m, got "
          + h.shape() + ", " + q.shape());
    }
    Operand<TFloat32> x = encoder(tf, vars, c,
        tf.concat(List.of(u0Tokens(tf, vars, h, d), h, q), tf.constant(1)),
        tf.constant(queryBias(1 + t, m)), seed, training);           // [B, 1+T+m, d]
    Operand<TFloat32> u = tf.reshape(
        tf.slice(x, tf.constant(new int[] {0, 0, 0}), tf.constant(new int[] {-1, 1, -1})),
        tf.constant(new int[] {-1, d}));                               // [B, d]
    Operand<TFloat32> v = tf.reshape(tf.slice(x, tf.constant(new int[] {0, 1 + t, 0}),
        tf.constant(new int[] {-1, m, -1})), tf.constant(new int[] {-1, m, d})); // [B, m, d]
    return new PooledWithQueries(u, v);
  }

  /** Additive bias that hides a key from a query ({@code exp(-1e9)} is exactly 0 in float32). */
  static final float HIDDEN = -1e9f;

  /**
   * Attention bias [k+m, k+m] for k visible slots followed by m query slots: 0 where query row r
   * may attend to key column t (t < k, or t == r), {@link #HIDDEN} where t is another query slot
   * or where a visible slot would look at any query slot.
   */
  static float[][] queryBias(int k, int m) {
    float[][] b = new float[k + m][k + m];
    for (int r = 0; r < k + m; r++) {
      for (int t = k; t < k + m; t++) {
        b[r][t] = r == t ? 0f : HIDDEN;
      }
    }
    return b;
  }

  private static int checkWidth(Operand<TFloat32> h, ModelConfig c) {
    int d = Layers.lastDim(h, "attentionPool");
    if (d != c.d()) {
      throw new IllegalArgumentException(
          "attentionPool: input width " + d + " != config d " + c.d());
    }
    return d;
  }

  /** u0 [d] tiled to [B, 1, d] (B from {@code h}). */
  private static Operand<TFloat32> u0Tokens(Ops tf, VarStore vars, Operand<TFloat32> h, int d) {
    Operand<TFloat32> u0 = vars.variable(PREFIX + "/u0", Shape.of(d), VarStore.Kind.TRAINABLE,
        Layers.truncatedNormal(vars, PREFIX + "/u0", INIT_STDDEV));
    Operand<TInt32> b = Layers.batchSize(tf, h);
    return tf.tile(tf.reshape(u0, tf.constant(new int[] {1, 1, d})),
        tf.stack(List.of(b, tf.constant(1), tf.constant(1))));           // [B, 1, d]
  }

  /** L transformer layers then the final layer norm: x [B, T, d] -> [B, T, d]. */
  private static Operand<TFloat32> encoder(
      Ops tf, VarStore vars, ModelConfig c, Operand<TFloat32> x, Operand<TFloat32> bias,
      Operand<TInt64> seed, boolean training) {
    for (int i = 0; i < c.layers(); i++) {
      Operand<TInt64> layerSeed =
          training && c.dropout() > 0 ? Layers.subSeed(tf, seed, 100 + i) : null;
      x = transformerLayer(tf, vars, PREFIX + "/layer" + i, x, c, bias, layerSeed, training);
    }
    return Layers.layerNorm(tf, vars, PREFIX + "/final_ln", x, c.lnEpsilon());
  }
}
