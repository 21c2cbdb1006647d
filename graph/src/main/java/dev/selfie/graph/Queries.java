package dev.selfie.graph;

import org.tensorflow.Operand;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TInt64;

/**
 * The query side of Selfie: position embeddings, one query per masked location for each query
 * mode of {@link ModelConfig.QueryMode}, and the encoder output (u, v) that the patch-selection
 * loss ({@link SelfieLoss}) scores against the masked patches.
 *
 * <p>Variables: {@code position/row_embedding} and {@code position/col_embedding} [g, d]
 * ({@link Selfie#ROW_EMBEDDING}, {@link Selfie#COL_EMBEDDING}); with query mode MLP or ATTEND also
 * {@code query/...} ({@link Selfie#QUERY}, pretraining only).
 */
public final class Queries {
  private Queries() {}

  /**
   * Position embeddings {@code e_l = E_row[row(l)] + E_col[col(l)]}: locations [B, k] (or [1, k])
   * -> [B, k, d], with row = l / g, col = l % g. Embeddings {@code position/row_embedding} and
   * {@code position/col_embedding} [g, d], TRAINABLE, truncated normal 0.02; one pair of tables
   * for the queries and (with {@code contextPositions}) the visible patches.
   */
  public static Operand<TFloat32> positionEmbeddings(
      Ops tf, VarStore vars, ModelConfig c, Operand<TInt32> locations) {
    int g = c.grid();
    Shape shape = Shape.of(g, c.d());
    Operand<TFloat32> rows = vars.variable(Selfie.ROW_EMBEDDING, shape, VarStore.Kind.TRAINABLE,
        Layers.truncatedNormal(vars, Selfie.ROW_EMBEDDING, Attention.INIT_STDDEV));
    Operand<TFloat32> cols = vars.variable(Selfie.COL_EMBEDDING, shape, VarStore.Kind.TRAINABLE,
        Layers.truncatedNormal(vars, Selfie.COL_EMBEDDING, Attention.INIT_STDDEV));
    Operand<TInt32> gg = tf.constant(g);
    return tf.math.add(
        tf.gather(rows, tf.math.floorDiv(locations, gg), tf.constant(0)),
        tf.gather(cols, tf.math.floorMod(locations, gg), tf.constant(0)));  // [B, k, d]
  }

  /**
   * Position queries {@code v_j = u + E_row[row(j)] + E_col[col(j)]} (query mode ADD, the paper):
   * u [B, d], masked locations [B, m] -> [B, m, d] (see {@link #positionEmbeddings}).
   */
  public static Operand<TFloat32> positionQueries(
      Ops tf, VarStore vars, ModelConfig c, Operand<TFloat32> u, Operand<TInt32> masked) {
    Operand<TFloat32> pos = positionEmbeddings(tf, vars, c, masked);       // [B, m, d]
    return tf.math.add(tf.expandDims(u, tf.constant(1)), pos);
  }

  /**
   * MLP queries (query mode MLP): {@code v_j = u + e_j + fc2(gelu(fc1(LN(u) + e_j)))}, hidden
   * width d: u [B, d], masked [B, m] -> [B, m, d]. The paper's query plus a learned function of
   * u and the position together. Variables {@code query/ln/{gamma,beta}}, {@code
   * query/mlp/fc1,fc2/{kernel,bias}} [d, d] (transformer init), used only in pretraining.
   *
   * <p>Why the residual: without it ({@code v_j = MLP(LN(u) + e_j)}) the position term (norm
   * ~0.02 sqrt(d)) is drowned by LN(u) (norm sqrt(d)). Measured: tiny preset, kernels at 0.02,
   * loss at ln m for 150 steps; kernels at 1/sqrt(d), tiny learned but small (8 masked) did not:
   * v did not depend on j, every query chose the same patch, accuracy exactly 1/m after 300
   * steps. With the residual, v starts as the paper's query.
   */
  public static Operand<TFloat32> mlpQueries(
      Ops tf, VarStore vars, ModelConfig c, Operand<TFloat32> u, Operand<TInt32> masked) {
    Operand<TFloat32> e = positionEmbeddings(tf, vars, c, masked);         // [B, m, d]
    Operand<TFloat32> lnU =
        Layers.layerNorm(tf, vars, Selfie.QUERY + "/ln", u, c.lnEpsilon()); // [B, d]
    Operand<TFloat32> mixed = tf.reshape(Attention.mlp(tf, vars, Selfie.QUERY + "/mlp",
        tf.math.add(tf.expandDims(lnU, tf.constant(1)), e), c.d()),
        tf.constant(new int[] {-1, c.numMasked(), c.d()}));             // [B, m, d]
    return tf.math.add(tf.math.add(tf.expandDims(u, tf.constant(1)), e), mixed);
  }

  /**
   * Query tokens (query mode ATTEND): {@code q + e_j} for each masked location, q the learned
   * d-vector {@code query/token}: masked [B, m] -> [B, m, d]. Positions only, no content.
   */
  public static Operand<TFloat32> queryTokens(
      Ops tf, VarStore vars, ModelConfig c, Operand<TInt32> masked) {
    Operand<TFloat32> q = vars.variable(Selfie.QUERY + "/token", Shape.of(c.d()),
        VarStore.Kind.TRAINABLE, Layers.truncatedNormal(vars, Selfie.QUERY + "/token",
            Attention.INIT_STDDEV));
    return tf.math.add(tf.reshape(q, tf.constant(new int[] {1, 1, c.d()})),
        positionEmbeddings(tf, vars, c, masked));                          // [B, m, d]
  }

  /**
   * What A sees of the visible patches: h_C [B, k, d] at locations [B, k] -> h_C, plus {@code
   * E_row[row(c)] + E_col[col(c)]} when {@code c.contextPositions()}.
   */
  public static Operand<TFloat32> contextTokens(
      Ops tf, VarStore vars, ModelConfig c, Operand<TFloat32> h, Operand<TInt32> locations) {
    return c.contextPositions()
        ? tf.math.add(h, positionEmbeddings(tf, vars, c, locations)) : h;
  }

  /**
   * The encoder side of Selfie: u [B, d] and the queries v [B, m, d].
   *
   * @param u A's pooled context
   * @param queries one query per masked location
   */
  public record Encoded(Operand<TFloat32> u, Operand<TFloat32> queries) {}

  /**
   * Pooled context and queries for {@code c.queryMode()}: context tokens [B, n-m, d] (from
   * {@link #contextTokens}), masked locations [B, m].
   * <ul>
   *   <li>ADD: u = A(context), v_j = u + e_j;
   *   <li>MLP: u = A(context), v_j = u + e_j + MLP(LN(u) + e_j);
   *   <li>ATTEND: A over [u0, context, q + e_j ...], v_j = the output at j's query slot.
   * </ul>
   */
  public static Encoded encode(
      Ops tf, VarStore vars, ModelConfig c, Operand<TFloat32> context, Operand<TInt32> masked,
      Operand<TInt64> seed, boolean training) {
    if (c.queryMode() == ModelConfig.QueryMode.ATTEND) {
      Attention.PooledWithQueries p = Attention.attentionPoolWithQueries(tf, vars, c, context,
          queryTokens(tf, vars, c, masked), seed, training);
      return new Encoded(p.u(), p.queries());
    }
    Operand<TFloat32> u = Selfie.attentionPool(tf, vars, c, context, seed, training); // [B, d]
    return new Encoded(u, queriesFromPooled(tf, vars, c, u, masked));
  }

  /**
   * v [B, m, d] from u [B, d] for query modes ADD and MLP (not ATTEND: there v is not a function
   * of u).
   */
  public static Operand<TFloat32> queriesFromPooled(
      Ops tf, VarStore vars, ModelConfig c, Operand<TFloat32> u, Operand<TInt32> masked) {
    return switch (c.queryMode()) {
      case ADD -> positionQueries(tf, vars, c, u, masked);
      case MLP -> mlpQueries(tf, vars, c, u, masked);
      case ATTEND -> throw new IllegalArgumentException(
          "query mode ATTEND builds its queries inside A, not from u");
    };
  }
}
