package dev.selfie.graph;

import java.util.ArrayList;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.math.Mean;
import org.tensorflow.op.nn.TopK;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TInt64;

/**
 * The Selfie model (Trinh, Luong &amp; Le 2019): patch cutting, masking, the patch network P,
 * attention pooling A, and the top-level builders for pretraining and for serving embeddings.
 * The position queries are {@link Queries}, the patch-selection loss {@link SelfieLoss}, the
 * context diagnostic {@link ContextDiagnostic}.
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
  /** Prefix of the pretraining-only query variables (query modes MLP and ATTEND). */
  public static final String QUERY = "query";

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
   *   <li>u = A(h_C) [B, d]; queries v_j = u + E_row + E_col [B, m, d] ({@link Queries#encode};
   *       the paper; the variants of {@link ModelConfig} change what A sees, the queries and the
   *       mask);
   *   <li>loss over logits v_j . h_k, k in M ({@link SelfieLoss#of}).
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
    Queries.Encoded e = Queries.encode(s, vars, c,
        Queries.contextTokens(s, vars, c, context, mask.context()), mask.masked(),
        Layers.subSeed(s, seed, ATTENTION_STREAM), training);          // u [B, d], v [B, m, d]
    SelfieLoss l = SelfieLoss.of(s, e.queries(), targets, c.temperature());
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
      h = Queries.contextTokens(tf, vars, c, h, tf.constant(allLocations(c.numPatches())));
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
