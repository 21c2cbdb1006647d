package dev.selfie.graph;

import java.util.ArrayList;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.math.Mean;
import org.tensorflow.op.nn.TopK;
import org.tensorflow.op.train.BatchMatMul;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TInt64;

/**
 * The Selfie model (Trinh, Luong &amp; Le 2019): patch cutting, masking, the patch network P,
 * attention pooling A, position queries and the patch-selection loss, and the top-level builders
 * for pretraining and for serving embeddings.
 *
 * <p>Shapes: B images of S x S x C, a g x g grid of p x p patches, n = g^2 patches, m masked,
 * n - m context, width d.
 *
 * <p>Variables created by {@link #pretrain}: the ResNet stem and stages 1-3 ({@code resnet/stem},
 * {@code resnet/stage1..3}), P's final BN ({@code resnet/stage3_final_bn}), attention pooling
 * ({@code attention/...}) and the position embeddings ({@code position/row_embedding} [g, d],
 * {@code position/col_embedding} [g, d]); with query mode MLP or ATTEND also {@code query/...}
 * (pretraining only). Which of them a finetuning graph reuses is decided by
 * {@link #isPretrained} / {@link #pretrainedNames}.
 *
 * <p>Randomness: masking and dropout use stateless random ops seeded from one {@code seed} int64
 * [2] operand (training feeds {@code [runSeed, step]}), so a resumed run draws the same masks.
 */
public final class Selfie {
  private Selfie() {}

  /** Prefix of the position embeddings. */
  public static final String POSITION = "position";
  public static final String ROW_EMBEDDING = POSITION + "/row_embedding";
  public static final String COL_EMBEDDING = POSITION + "/col_embedding";

  /** Seed stream of the masking (the others are used by dropout). */
  private static final long MASK_STREAM = 0;
  private static final long ATTENTION_STREAM = 1;

  // ------------------------------------------------------------------ patches and masking

  /**
   * The seed [2] of the masking drawn by {@link #pretrain} from its {@code seed} [2] operand (for
   * graphs that must draw the same masks, e.g. a reference implementation in a test).
   */
  public static Operand<TInt64> maskSeed(Ops tf, Operand<TInt64> seed) {
    return Layers.subSeed(tf, seed, MASK_STREAM);
  }

  /**
   * Cuts images [B, S, S, C] into patches [B, n, p, p, C], row-major: location l is the patch at
   * grid row {@code l / g}, column {@code l % g}.
   */
  public static Operand<TFloat32> cutPatches(Ops tf, ModelConfig c, Operand<TFloat32> images) {
    checkImages(images, c);
    int g = c.grid();
    int p = c.patchSize();
    int ch = c.channels();
    Operand<TFloat32> x = tf.reshape(images, tf.constant(new int[] {-1, g, p, g, p, ch}));
    x = tf.linalg.transpose(x, tf.constant(new int[] {0, 1, 3, 2, 4, 5})); // [B, g, g, p, p, C]
    return tf.reshape(x, tf.constant(new int[] {-1, g * g, p, p, ch}));
  }

  /**
   * Masked and context locations of each image, indices into the n patches.
   *
   * @param masked [B, m] int32, in random order
   * @param context [B, n - m] int32, in random order
   */
  public record Mask(Operand<TInt32> masked, Operand<TInt32> context) {}

  /**
   * MAE-style random masking, per image: argsort of uniform noise [B, n] (stateless, from {@code
   * seed} [2]); the first m locations of the permutation are masked, the rest are context. Exactly
   * m masked per image, different across images, identical for the same seed.
   *
   * @param batchSize scalar int32 B
   */
  public static Mask randomMask(
      Ops tf, Operand<TInt32> batchSize, int n, int m, Operand<TInt64> seed) {
    return randomMask(tf, batchSize, n, m, seed, null);
  }

  /**
   * {@link #randomMask} with a per-location bonus: the permutation sorts {@code noise + bonus}
   * [B, n] instead of the noise alone. A bonus of 0 or more than 1 per location ranks every
   * location with the bonus above every location without it (uniform noise is in [0, 1)), in
   * random order within each group. Null: the uniform mask.
   */
  public static Mask randomMask(
      Ops tf, Operand<TInt32> batchSize, int n, int m, Operand<TInt64> seed,
      Operand<TFloat32> bonus) {
    if (m < 1 || m >= n) {
      throw new IllegalArgumentException("randomMask: need 1 <= m < n, got m=" + m + ", n=" + n);
    }
    Operand<TFloat32> noise = tf.random.statelessRandomUniform(
        tf.stack(List.of(batchSize, tf.constant(n))), seed);                // [B, n]
    if (bonus != null) {
      noise = tf.math.add(noise, bonus);
    }
    Operand<TInt32> perm =
        tf.nn.topK(noise, tf.constant(n), TInt32.class, TopK.sorted(true)).indices(); // [B, n]
    Operand<TInt32> masked =
        tf.slice(perm, tf.constant(new int[] {0, 0}), tf.constant(new int[] {-1, m}));
    Operand<TInt32> context =
        tf.slice(perm, tf.constant(new int[] {0, m}), tf.constant(new int[] {-1, n - m}));
    return new Mask(masked, context);
  }

  /**
   * Content-aware masking ({@code maskContent}): locations whose patch has content get a bonus of
   * 2, blank ones 0, so {@link #randomMask} masks m patches with content whenever an image has at
   * least m of them, and blank patches only to fill up. A patch is blank when the std of its
   * pixels (all p x p x C values) is at most {@link ModelConfig#BLANK_STD}.
   *
   * @param patches [B, n, p, p, C]
   * @return [B, n] 2 (content) or 0 (blank), no gradient
   */
  public static Operand<TFloat32> contentBonus(
      Ops tf, ModelConfig c, Operand<TFloat32> patches) {
    int values = c.patchSize() * c.patchSize() * c.channels();
    Operand<TFloat32> x = tf.stopGradient(tf.reshape(patches,
        tf.constant(new int[] {-1, c.numPatches(), values})));            // [B, n, p*p*C]
    Operand<TFloat32> mean = tf.math.mean(x, tf.constant(2), Mean.keepDims(true));
    Operand<TFloat32> variance =
        tf.math.mean(tf.math.squaredDifference(x, mean), tf.constant(2)); // [B, n]
    Operand<TFloat32> content = tf.dtypes.cast(
        tf.math.greater(variance, tf.constant((float) (ModelConfig.BLANK_STD
            * ModelConfig.BLANK_STD))), TFloat32.class);
    return tf.math.mul(content, tf.constant(2f));
  }

  /**
   * Gathers per-image rows: x [B, n, d] (given flat as [B*n, d]) and idx [B, k] -> [B, k, d],
   * {@code out[b, j] = x[b, idx[b, j]]}. Uses GatherV2 on axis 0 of the flat tensor (its gradient
   * exists in TF Java; batch_dims gathers are avoided).
   */
  public static Operand<TFloat32> gatherPatches(
      Ops tf, Operand<TFloat32> flat, Operand<TInt32> idx, int n) {
    Operand<TInt32> b = Layers.batchSize(tf, idx);
    Operand<TInt32> offsets = tf.expandDims(
        tf.math.mul(tf.range(tf.constant(0), b, tf.constant(1)), tf.constant(n)), tf.constant(1));
    return tf.gather(flat, tf.math.add(idx, offsets), tf.constant(0));
  }

  // ------------------------------------------------------------------ the networks

  /**
   * The patch network P, one set of weights for every patch: patches [N, p, p, C] -> h [N, d].
   * ResNet v2 stem + stages 1-3, final BN + ReLU ({@code resnet/stage3_final_bn}), global average
   * pool. Also used on whole images by {@link #imageEmbedding} (any spatial size).
   */
  public static Operand<TFloat32> patchNetwork(
      Ops tf, VarStore vars, ModelConfig c, Operand<TFloat32> patches, boolean training) {
    Operand<TFloat32> y = ResNet.trunk(tf, vars, c, patches, 3, training);
    return ResNet.finalBnReluPool(tf, vars, c, 3, y, training);
  }

  /**
   * Attention pooling A: h [B, T, d] -> u [B, d] (see {@link Attention#attentionPool}).
   */
  public static Operand<TFloat32> attentionPool(
      Ops tf, VarStore vars, ModelConfig c, Operand<TFloat32> h, Operand<TInt64> seed,
      boolean training) {
    return Attention.attentionPool(tf, vars, c, h, seed, training);
  }

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
    Operand<TFloat32> rows = vars.variable(ROW_EMBEDDING, shape, VarStore.Kind.TRAINABLE,
        Layers.truncatedNormal(vars, ROW_EMBEDDING, Attention.INIT_STDDEV));
    Operand<TFloat32> cols = vars.variable(COL_EMBEDDING, shape, VarStore.Kind.TRAINABLE,
        Layers.truncatedNormal(vars, COL_EMBEDDING, Attention.INIT_STDDEV));
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

  /** Prefix of the pretraining-only query variables (query modes MLP and ATTEND). */
  public static final String QUERY = "query";

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
    Operand<TFloat32> lnU = Layers.layerNorm(tf, vars, QUERY + "/ln", u, c.lnEpsilon()); // [B, d]
    Operand<TFloat32> mixed = tf.reshape(Attention.mlp(tf, vars, QUERY + "/mlp",
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
    Operand<TFloat32> q = vars.variable(QUERY + "/token", Shape.of(c.d()),
        VarStore.Kind.TRAINABLE, Layers.truncatedNormal(vars, QUERY + "/token",
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
    Operand<TFloat32> u = attentionPool(tf, vars, c, context, seed, training);  // [B, d]
    return new Encoded(u, queriesFromPooled(tf, vars, c, u, masked));
  }

  /** v [B, m, d] from u [B, d] for query modes ADD and MLP (not ATTEND: there v is not a function of u). */
  public static Operand<TFloat32> queriesFromPooled(
      Ops tf, VarStore vars, ModelConfig c, Operand<TFloat32> u, Operand<TInt32> masked) {
    return switch (c.queryMode()) {
      case ADD -> positionQueries(tf, vars, c, u, masked);
      case MLP -> mlpQueries(tf, vars, c, u, masked);
      case ATTEND -> throw new IllegalArgumentException(
          "query mode ATTEND builds its queries inside A, not from u");
    };
  }

  // ------------------------------------------------------------------ the loss

  /**
   * The Selfie loss and its by-products.
   *
   * @param loss scalar, mean softmax cross-entropy over the B*m predictions
   * @param logits [B, m, m]: logits[b, j, k] = v_j . h_k / temperature over image b's masked
   *     patches
   * @param labels [B, m] int32, labels[b, j] = j (the right patch for query j)
   * @param accuracy scalar, fraction of queries whose argmax is the right patch (chance 1/m)
   */
  public record SelfieLoss(
      Operand<TFloat32> loss,
      Operand<TFloat32> logits,
      Operand<TInt32> labels,
      Operand<TFloat32> accuracy) {}

  /**
   * Patch-selection loss: queries v [B, m, d], masked-patch embeddings h [B, m, d] (in the same
   * order as the queries) -> logits [B, m, m] = v h^T / temperature, softmax cross-entropy with
   * target k = j. Implemented with one-hot labels and {@code SoftmaxCrossEntropyWithLogits}
   * (whose gradient TF Java has; the sparse op has none), no custom gradient registered.
   */
  public static SelfieLoss selfieLoss(
      Ops tf, Operand<TFloat32> queries, Operand<TFloat32> targets, double temperature) {
    Shape qs = queries.shape();
    if (qs.numDimensions() != 3 || qs.size(1) < 0) {
      throw new IllegalArgumentException(
          "selfieLoss: queries must be [B, m, d] with static m, got " + qs);
    }
    int m = (int) qs.size(1);
    Operand<TFloat32> logits = tf.train.batchMatMul(queries, targets, TFloat32.class,
        BatchMatMul.adjY(true));                                          // [B, m, m]
    if (temperature != 1.0) {
      logits = tf.math.div(logits, tf.constant((float) temperature));
    }
    Operand<TInt32> b = Layers.batchSize(tf, queries);
    Operand<TInt32> labels = tf.tile(
        tf.expandDims(tf.range(tf.constant(0), tf.constant(m), tf.constant(1)), tf.constant(0)),
        tf.stack(List.of(b, tf.constant(1))));                               // [B, m]
    Operand<TFloat32> flatLogits = tf.reshape(logits, tf.constant(new int[] {-1, m}));
    Operand<TInt32> flatLabels = tf.reshape(labels, tf.constant(new int[] {-1}));
    Operand<TFloat32> loss = Losses.crossEntropy(tf, flatLogits, flatLabels, m);
    Operand<TFloat32> accuracy = Losses.accuracy(tf, flatLogits, flatLabels);
    return new SelfieLoss(loss, logits, labels, accuracy);
  }

  // ------------------------------------------------------------------ top-level builders

  /**
   * Everything the pretraining graph computes.
   *
   * @param loss scalar Selfie loss
   * @param accuracy scalar patch-selection accuracy
   * @param logits [B, m, m]
   * @param labels [B, m]
   * @param masked [B, m] masked locations
   * @param context [B, n - m] context locations
   * @param patchEmbeddings h of every patch, [B, n, d]
   * @param pooled u, the attention-pooled context, [B, d]
   * @param queries v, [B, m, d]
   */
  public record PretrainOutputs(
      Operand<TFloat32> loss,
      Operand<TFloat32> accuracy,
      Operand<TFloat32> logits,
      Operand<TInt32> labels,
      Operand<TInt32> masked,
      Operand<TInt32> context,
      Operand<TFloat32> patchEmbeddings,
      Operand<TFloat32> pooled,
      Operand<TFloat32> queries) {}

  /**
   * The Selfie pretraining step's forward graph: images [B, S, S, C] -> loss.
   * <ol>
   *   <li>cut into n patches, run P on all B*n patches: h [B, n, d];
   *   <li>mask m locations per image (seeded); context h_C [B, n-m, d], targets h_M [B, m, d];
   *   <li>u = A(h_C) [B, d]; queries v_j = u + E_row + E_col [B, m, d] (the paper; the variants
   *       of {@link ModelConfig} change what A sees, the queries and the mask);
   *   <li>loss over logits v_j . h_k, k in M.
   * </ol>
   *
   * @param seed int64 [2]; masking and dropout draw from it (feed {@code [runSeed, step]})
   * @param training BN batch statistics + moving-average updates, dropout
   */
  public static PretrainOutputs pretrain(
      Ops tf, VarStore vars, ModelConfig c, Operand<TFloat32> images, Operand<TInt64> seed,
      boolean training) {
    if (seed == null) {
      throw new IllegalArgumentException("pretrain: the seed operand (int64 [2]) is required");
    }
    Ops s = tf.withSubScope("selfie");
    int n = c.numPatches();
    int d = c.d();
    Operand<TFloat32> patches = cutPatches(s, c, images);                  // [B, n, p, p, C]
    Operand<TFloat32> flatPatches = s.reshape(patches,
        s.constant(new int[] {-1, c.patchSize(), c.patchSize(), c.channels()}));
    Operand<TFloat32> hFlat = patchNetwork(s, vars, c, flatPatches, training); // [B*n, d]
    Operand<TFloat32> h = s.reshape(hFlat, s.constant(new int[] {-1, n, d}));  // [B, n, d]
    Mask mask = mask(s, c, Layers.batchSize(s, images), patches, seed);
    Operand<TFloat32> context = gatherPatches(s, hFlat, mask.context(), n);   // [B, n-m, d]
    Operand<TFloat32> targets = gatherPatches(s, hFlat, mask.masked(), n);    // [B, m, d]
    Encoded e = encode(s, vars, c, contextTokens(s, vars, c, context, mask.context()),
        mask.masked(), Layers.subSeed(s, seed, ATTENTION_STREAM), training); // u [B, d], v [B, m, d]
    SelfieLoss l = selfieLoss(s, e.queries(), targets, c.temperature());
    return new PretrainOutputs(l.loss(), l.accuracy(), l.logits(), l.labels(), mask.masked(),
        mask.context(), h, e.u(), e.queries());
  }

  /**
   * The mask of a batch of B images cut into patches [B, n, p, p, C]: uniform, or content-first
   * with {@code c.maskContent()} ({@link #contentBonus}).
   */
  static Mask mask(Ops tf, ModelConfig c, Operand<TInt32> batchSize, Operand<TFloat32> patches,
      Operand<TInt64> seed) {
    Operand<TFloat32> bonus = c.maskContent() ? contentBonus(tf, c, patches) : null;
    return randomMask(tf, batchSize, c.numPatches(), c.numMasked(), maskSeed(tf, seed), bonus);
  }

  // ------------------------------------------------------------------ context diagnostic

  /**
   * How much the queries use the context, in one inference-mode pass: patch-selection accuracy
   * as trained, with the context zeroed, and with the context of another image (the batch rolled
   * by one: image b gets image b+1's, mod B; B >= 2). "Context" is what the queries receive:
   * u for query modes ADD and MLP (zeroed: {@code v_j = queries(0, j)}; in ADD that is the
   * position term alone); the context tokens h_C (+ positions) for ATTEND (zeroed: zero vectors in
   * their slots). Targets, masks and everything else are unchanged.
   *
   * @param normal, zeroed, shuffled scalar accuracies (chance 1/m)
   * @param logits, zeroedLogits, shuffledLogits [B, m, m]
   * @param u [B, d] A's pooled context; targets h_M [B, m, d]
   */
  public record ContextDiagnostic(
      Operand<TFloat32> normal,
      Operand<TFloat32> zeroed,
      Operand<TFloat32> shuffled,
      Operand<TFloat32> logits,
      Operand<TFloat32> zeroedLogits,
      Operand<TFloat32> shuffledLogits,
      Operand<TFloat32> u,
      Operand<TFloat32> targets) {}

  /**
   * The context diagnostic on images [B, S, S, C], BN in inference mode, no dropout; masks from
   * {@code seed} [2] as in pretraining (same seed, same masks).
   */
  public static ContextDiagnostic contextDiagnostic(
      Ops tf, VarStore vars, ModelConfig c, Operand<TFloat32> images, Operand<TInt64> seed) {
    Ops s = tf.withSubScope("diagnostic");
    int n = c.numPatches();
    Operand<TFloat32> patches = cutPatches(s, c, images);                  // [B, n, p, p, C]
    Operand<TFloat32> hFlat = patchNetwork(s, vars, c, s.reshape(patches,
        s.constant(new int[] {-1, c.patchSize(), c.patchSize(), c.channels()})), false);
    Mask mask = mask(s, c, Layers.batchSize(s, images), patches, seed);
    Operand<TFloat32> context = contextTokens(s, vars, c,
        gatherPatches(s, hFlat, mask.context(), n), mask.context());     // [B, n-m, d]
    Operand<TFloat32> targets = gatherPatches(s, hFlat, mask.masked(), n); // [B, m, d]
    Encoded e = encode(s, vars, c, context, mask.masked(), null, false);
    Operand<TFloat32> zeroedV;
    Operand<TFloat32> shuffledV;
    if (c.queryMode() == ModelConfig.QueryMode.ATTEND) {
      zeroedV = encode(s, vars, c, s.zerosLike(context), mask.masked(), null, false).queries();
      shuffledV = encode(s, vars, c, rollBatch(s, context), mask.masked(), null, false).queries();
    } else {
      zeroedV = queriesFromPooled(s, vars, c, s.zerosLike(e.u()), mask.masked());
      shuffledV = queriesFromPooled(s, vars, c, rollBatch(s, e.u()), mask.masked());
    }
    SelfieLoss normal = selfieLoss(s, e.queries(), targets, c.temperature());
    SelfieLoss zeroed = selfieLoss(s, zeroedV, targets, c.temperature());
    SelfieLoss shuffled = selfieLoss(s, shuffledV, targets, c.temperature());
    return new ContextDiagnostic(normal.accuracy(), zeroed.accuracy(), shuffled.accuracy(),
        normal.logits(), zeroed.logits(), shuffled.logits(), e.u(), targets);
  }

  /** x [B, ...] -> x rolled by one along the batch: out[b] = x[(b + 1) mod B]. */
  static Operand<TFloat32> rollBatch(Ops tf, Operand<TFloat32> x) {
    return tf.roll(x, tf.constant(-1), tf.constant(0));
  }

  /** P on every patch of the images: images [B, S, S, C] -> h [B, n, d] (row-major locations). */
  public static Operand<TFloat32> patchEmbeddings(
      Ops tf, VarStore vars, ModelConfig c, Operand<TFloat32> images, boolean training) {
    Ops s = tf.withSubScope("patch_embeddings");
    Operand<TFloat32> flat = s.reshape(cutPatches(s, c, images),
        s.constant(new int[] {-1, c.patchSize(), c.patchSize(), c.channels()}));
    return s.reshape(patchNetwork(s, vars, c, flat, training),
        s.constant(new int[] {-1, c.numPatches(), c.d()}));
  }

  /**
   * A over all n patches of each image: images [B, S, S, C] -> u [B, d] (the hybrid head's
   * embedding, the pretraining SavedModel's {@code u}). With {@code contextPositions}, every
   * patch gets its position embedding before A, as the visible patches did in pretraining. {@code seed} is needed only in training with dropout > 0.
   */
  public static Operand<TFloat32> attentionPoolAll(
      Ops tf, VarStore vars, ModelConfig c, Operand<TFloat32> images, Operand<TInt64> seed,
      boolean training) {
    Operand<TFloat32> h = patchEmbeddings(tf, vars, c, images, training);   // [B, n, d]
    if (c.contextPositions()) {
      h = contextTokens(tf, vars, c, h, tf.constant(allLocations(c.numPatches())));
    }
    Operand<TInt64> s = training && c.dropout() > 0
        ? Layers.subSeed(tf, seed, ATTENTION_STREAM) : null;
    return attentionPool(tf, vars, c, h, s, training);
  }

  /** [[0, 1, .., n-1]]: every location, [1, n] (broadcast over the batch). */
  private static int[][] allLocations(int n) {
    int[][] l = new int[1][n];
    for (int i = 0; i < n; i++) {
      l[0][i] = i;
    }
    return l;
  }

  /**
   * P's layers on the whole image: stem + stages 1-3, final BN + ReLU, global average pool:
   * images [B, S, S, C] -> [B, d]. Same variables as {@link #patchNetwork}.
   */
  public static Operand<TFloat32> imageEmbedding(
      Ops tf, VarStore vars, ModelConfig c, Operand<TFloat32> images, boolean training) {
    checkImages(images, c);
    return patchNetwork(tf.withSubScope("image_embedding"), vars, c, images, training);
  }

  // ------------------------------------------------------------------ weight transfer

  /**
   * The documented rule for finetuning: does the finetune variable {@code name} start from the
   * pretrained checkpoint? RESNET head: the stem and stages 1-3 ({@code resnet/stem/},
   * {@code resnet/stage1/} .. {@code resnet/stage3/}), weights and BN moving statistics; stage 4,
   * {@code resnet/stage4_final_bn} and {@code classifier/} start fresh. HYBRID head: all of P
   * (also {@code resnet/stage3_final_bn/}) and all of A ({@code attention/}); {@code classifier/}
   * starts fresh. The position embeddings are used (and restored) only by the HYBRID head of a
   * model pretrained with {@code contextPositions}. Pretraining-only variables ({@code query/})
   * never appear in a finetune graph.
   */
  public static boolean isPretrained(String name, Classifier.Head head) {
    boolean trunk = name.startsWith(ResNet.STEM + "/")
        || name.startsWith(ResNet.stageName(1) + "/")
        || name.startsWith(ResNet.stageName(2) + "/")
        || name.startsWith(ResNet.stageName(3) + "/");
    return switch (head) {
      case RESNET -> trunk;
      case HYBRID -> trunk
          || name.startsWith(ResNet.finalBnName(3) + "/")
          || name.startsWith(Attention.PREFIX + "/")
          || name.startsWith(POSITION + "/");
    };
  }

  /**
   * Which variables of a finetune graph come from pretraining and which start fresh.
   *
   * @param fromPretraining names to restore from the pretraining checkpoint (all must be found)
   * @param fresh names that keep their initial values (the new head)
   */
  public record Transfer(List<String> fromPretraining, List<String> fresh) {}

  /** Splits every variable of {@code finetuneVars} by {@link #isPretrained}. */
  public static Transfer pretrainedNames(VarStore finetuneVars, Classifier.Head head) {
    List<String> restored = new ArrayList<>();
    List<String> fresh = new ArrayList<>();
    for (VarStore.Entry e : finetuneVars.all()) {
      (isPretrained(e.name(), head) ? restored : fresh).add(e.name());
    }
    return new Transfer(List.copyOf(restored), List.copyOf(fresh));
  }

  static void checkImages(Operand<TFloat32> images, ModelConfig c) {
    Shape s = images.shape();
    int size = c.imageSize();
    if (s.numDimensions() != 4 || s.size(1) != size || s.size(2) != size
        || s.size(3) != c.channels()) {
      throw new IllegalArgumentException("images must be [B, " + size + ", " + size + ", "
          + c.channels() + "] for this model config, got " + s);
    }
  }
}
