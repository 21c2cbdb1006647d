package dev.selfie.graph;

import com.fasterxml.jackson.annotation.JsonIgnore;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * The architecture of a Selfie model: everything the graph builders need, nothing about a run
 * (seeds, schedules, data paths live in run configs). Immutable, validated on construction,
 * serialised as JSON beside every checkpoint and SavedModel so pretraining, finetuning and
 * serving read the architecture from one place.
 *
 * <p>Geometry: an image of {@code imageSize x imageSize x channels} is cut into a
 * {@code grid x grid} grid of {@code patchSize x patchSize} patches, {@code n = grid^2} of them,
 * of which {@code numMasked = m} are masked per image.
 *
 * <p>Network: a ResNet v2 (pre-activation) bottleneck trunk: a stem of {@code stemWidth} channels,
 * then four stages of {@code stageBlocks.get(i)} bottleneck blocks each with output width
 * {@code stageWidths.get(i)} (inner width = output / 4; stride 1 in stage 1, 2 in stages 2-4, in
 * the 3x3 conv of the first block). The patch network P is stem + stages 1-3, so
 * {@code d == stageWidths.get(2)}. Attention pooling: {@code layers} pre-LN transformer layers of
 * width {@code d}, {@code heads} heads, feed-forward width {@code ffn} with GELU.
 *
 * <p>Build one with {@link #builder} (named setters, the same validation) or start from a
 * {@link #preset} and change what differs with {@link #toBuilder} or a {@code withX} copy.
 *
 * @param imageSize S, side of the (square) input image in pixels
 * @param channels C, native image channels (1 grey, 3 RGB); set from the data by {@link #withData}
 * @param numClasses K, classes of the finetuning classifier; set from the data by {@link #withData}
 * @param patchSize p, side of a patch; S must be a multiple of p
 * @param numMasked m, masked patches per image, {@code 2 <= m < n}
 * @param stem the ResNet stem (same for patches and whole images)
 * @param stemWidth output channels of the stem conv
 * @param stageWidths output widths of the four stages (multiples of 4)
 * @param stageBlocks bottleneck blocks of the four stages ({@link #DEPTHS}; ResNet-50: 3,4,6,3)
 * @param d width of the patch embeddings h and of the transformer; must equal stage-3's width
 * @param layers L, transformer layers of the attention pooling network
 * @param heads attention heads; must divide d
 * @param ffn hidden width of the transformer feed-forward block
 * @param dropout dropout rate in the transformer (attention probabilities and both residual
 *     branches), training only; 0 disables it
 * @param zeroInitLast start every bottleneck's residual branch at zero so the block starts as its
 *     shortcut. In a v2 (pre-activation) block there is no BN after the last conv; the "last BN"
 *     is bn3, before ReLU and conv3. Zeroing bn3's gamma would output exactly 0 into a ReLU whose
 *     gradient at 0 is 0, so gamma would never receive a gradient and the block would stay dead.
 *     We therefore zero the last conv's kernel ({@code conv3/kernel}), as timm's PreActBottleneck
 *     does: the residual branch outputs 0 and conv3 still gets a gradient from step one.
 * @param bnMomentum decay of the BN moving averages: {@code moving = momentum * moving + (1 -
 *     momentum) * batch}. 0.9 (SimCLR's choice) in every preset: the statistics settle within a
 *     few dozen steps, which matters for short CPU runs and for finetuning on 5% of the labels; the
 *     TF/Keras 0.99 (or 0.997) need hundreds of steps before inference-mode accuracy is meaningful
 * @param bnEpsilon BN epsilon
 * @param lnEpsilon layer-norm epsilon
 * @param temperature the Selfie loss divides the dot products {@code v_j . h_k} by this; 1 is the
 *     paper's raw dot product
 * @param contextPositions pretraining variant: add the position embedding {@code E_row[row(c)] +
 *     E_col[col(c)]} (the queries' tables) to each visible patch h_c entering A, and to every
 *     patch entering A in the hybrid head. false (the paper): A sees the visible patches without
 *     their locations
 * @param queryMode how the query v_j of a masked location is built ({@link QueryMode}); ADD is
 *     the paper's
 * @param maskContent pretraining variant: draw the m masked locations among the patches with
 *     content first (pixel std over the patch above {@link #BLANK_STD}), blank ones only when an
 *     image has fewer than m patches with content. false (the paper): uniform over all n
 */
public record ModelConfig(
    int imageSize,
    int channels,
    int numClasses,
    int patchSize,
    int numMasked,
    Stem stem,
    int stemWidth,
    List<Integer> stageWidths,
    List<Integer> stageBlocks,
    int d,
    int layers,
    int heads,
    int ffn,
    double dropout,
    boolean zeroInitLast,
    double bnMomentum,
    double bnEpsilon,
    double lnEpsilon,
    double temperature,
    boolean contextPositions,
    QueryMode queryMode,
    boolean maskContent) {

  /** How the query v_j for masked location j is built from the context and j's position e_j. */
  public enum QueryMode {
    /** The paper: {@code v_j = u + E_row[row(j)] + E_col[col(j)]}. */
    ADD,
    /**
     * {@code v_j = u + e_j + MLP(LN(u) + e_j)}, one hidden layer of width d with GELU (variables
     * under {@code query/}, pretraining only).
     */
    MLP,
    /**
     * Each masked location is a query token {@code q + e_j} (q a learned d-vector) appended to
     * A's input; v_j is A's output at that slot. The query tokens see u0, the visible patches and
     * themselves, never a masked patch's content; u0 and the visible patches do not see the
     * query tokens, so u is exactly what A computes without them.
     */
    ATTEND
  }

  /** Pixel std (after normalisation) at or below which {@code maskContent} calls a patch blank. */
  public static final double BLANK_STD = 1e-3;

  /** The ResNet stem. */
  public enum Stem {
    /** 3x3 stride-1 conv, no max-pool: 32x32 images and 8x8 patches (CIFAR-style). */
    CONV3X3,
    /** 7x7 stride-2 conv then 3x3 stride-2 max-pool (/4): 224x224 images and 32x32 patches. */
    IMAGENET
  }

  /** Names accepted by {@link #preset}. */
  public static final List<String> PRESETS = List.of("paper", "paper224", "small", "tiny");

  /** Stride of the first block of each stage (in its 3x3 conv). */
  public static final List<Integer> STAGE_STRIDES = List.of(1, 2, 2, 2);

  /**
   * The depth table: bottleneck blocks per stage {@code [b1, b2, b3, b4]} of a ResNet v2 of each
   * depth. A bottleneck block is three convs (1x1, 3x3, 1x1); with the stem conv and the
   * classifier's dense layer, {@code depth = 3 * (b1 + b2 + b3 + b4) + 2} ({@link #depth()}):
   * ResNet-50 = 3 * (3 + 4 + 6 + 3) + 2 (He et al. 2016, table 1). Bottleneck depths only: the
   * graph builds no basic (two-conv) blocks, so no ResNet-18 or -34. 14 and 26 are timm's
   * resnet14t and resnet26 layouts.
   */
  public static final SortedMap<Integer, List<Integer>> DEPTHS =
      Collections.unmodifiableSortedMap(new TreeMap<>(Map.of(
          14, List.of(1, 1, 1, 1),      // small, tiny
          26, List.of(2, 2, 2, 2),
          50, List.of(3, 4, 6, 3),      // paper, paper224
          101, List.of(3, 4, 23, 3),
          152, List.of(3, 8, 36, 3))));

  public ModelConfig {
    require(imageSize > 0, "imageSize must be > 0, got " + imageSize);
    require(channels > 0, "channels must be > 0, got " + channels);
    require(numClasses >= 2, "numClasses must be >= 2, got " + numClasses);
    require(patchSize > 0, "patchSize must be > 0, got " + patchSize);
    require(imageSize % patchSize == 0,
        "imageSize " + imageSize + " is not divisible by patchSize " + patchSize);
    require(stem != null, "stem must be set (CONV3X3 or IMAGENET)");
    require(stem != Stem.IMAGENET || patchSize >= 16,
        "the IMAGENET stem (/4) on " + patchSize + "x" + patchSize
            + " patches collapses them; use stem CONV3X3 for patches smaller than 16");
    require(stemWidth > 0, "stemWidth must be > 0, got " + stemWidth);
    require(stageWidths != null && stageWidths.size() == 4,
        "stageWidths must list 4 stage widths, got " + stageWidths);
    require(stageBlocks != null && stageBlocks.size() == 4,
        "stageBlocks must list 4 block counts, got " + stageBlocks);
    stageWidths = List.copyOf(stageWidths);
    stageBlocks = List.copyOf(stageBlocks);
    for (int w : stageWidths) {
      require(w > 0 && w % 4 == 0,
          "stage widths must be positive multiples of 4 (bottleneck expansion), got "
              + stageWidths);
    }
    for (int b : stageBlocks) {
      require(b >= 1, "every stage needs >= 1 block, got " + stageBlocks);
    }
    int n = (imageSize / patchSize) * (imageSize / patchSize);
    require(numMasked >= 2 && numMasked < n,
        "numMasked must be in [2, n-1] = [2, " + (n - 1) + "] for " + n + " patches ("
            + imageSize + "/" + patchSize + " squared), got " + numMasked);
    require(d == stageWidths.get(2),
        "d (" + d + ") must equal the stage-3 width " + stageWidths.get(2)
            + ": the patch network's output is the transformer's input");
    require(layers >= 1, "layers must be >= 1, got " + layers);
    require(heads >= 1 && d % heads == 0,
        "heads (" + heads + ") must divide d (" + d + ")");
    require(ffn > 0, "ffn must be > 0, got " + ffn);
    require(dropout >= 0 && dropout < 1, "dropout must be in [0, 1), got " + dropout);
    require(bnMomentum >= 0 && bnMomentum < 1, "bnMomentum must be in [0, 1), got " + bnMomentum);
    require(bnEpsilon > 0, "bnEpsilon must be > 0, got " + bnEpsilon);
    require(lnEpsilon > 0, "lnEpsilon must be > 0, got " + lnEpsilon);
    require(temperature > 0, "temperature must be > 0, got " + temperature);
    if (queryMode == null) {
      queryMode = QueryMode.ADD; // config.json written before the query modes existed
    }
  }

  private static void require(boolean ok, String message) {
    if (!ok) {
      throw new IllegalArgumentException("invalid model config: " + message);
    }
  }

  /**
   * A named preset: {@code paper} (ResNet-50 v2 on 32x32 images, 8x8 patches, 3x3 stem, d=1024,
   * L=3, 32 heads, FFN 640, 4 of 16 masked), {@code paper224} (the same on 224x224 images, 32x32
   * patches, ImageNet stem, 12 of 49 masked, 1000 classes), {@code small} (widths x1/4, one block
   * per stage, d=256, 4 heads, FFN 160: the paper's graph sized for CPU), {@code tiny} (for tests).
   * Channels default to 3; use {@link #withData} to match a dataset.
   */
  public static ModelConfig preset(String name) {
    String key = name == null ? "" : name.toLowerCase(Locale.ROOT);
    return switch (key) {
      case "paper" -> paper();
      case "paper224" -> paper224();
      case "small" -> small();
      case "tiny" -> tiny();
      default -> throw new IllegalArgumentException(
          "unknown model preset '" + name + "', expected one of " + PRESETS);
    };
  }

  /** The paper's model: ResNet-50 v2 on 32x32 images (CIFAR-10), 8x8 patches, 4 of 16 masked. */
  private static ModelConfig paper() {
    return builder()
        .imageSize(32).numClasses(10).patchSize(8).numMasked(4)
        .stem(Stem.CONV3X3).stemWidth(64).stageWidths(List.of(256, 512, 1024, 2048)).depth(50)
        .d(1024).layers(3).heads(32).ffn(640)
        .build();
  }

  /** {@code paper} on ImageNet: 224x224 images, 32x32 patches, 12 of 49 masked, 1000 classes. */
  private static ModelConfig paper224() {
    return paper().toBuilder()
        .imageSize(224).patchSize(32).numMasked(12).stem(Stem.IMAGENET).numClasses(1000)
        .build();
  }

  /** {@code paper} sized for CPU: widths x1/4, one block per stage (ResNet-14), d = 256. */
  private static ModelConfig small() {
    return paper().toBuilder()
        .stemWidth(16).stageWidths(List.of(64, 128, 256, 512)).depth(14)
        .d(256).heads(4).ffn(160)
        .build();
  }

  /** {@code small} shrunk for tests: d = 32, two layers of two heads, no zero-init. */
  private static ModelConfig tiny() {
    return small().toBuilder()
        .stemWidth(8).stageWidths(List.of(16, 32, 32, 64))
        .d(32).layers(2).heads(2).ffn(48).zeroInitLast(false)
        .build();
  }

  /**
   * A builder with no geometry or network set and the defaults of every preset for the rest
   * ({@link ModelConfigBuilder}).
   */
  public static ModelConfigBuilder builder() {
    return new ModelConfigBuilder();
  }

  /** A builder holding this config's values, to build a copy that differs in a few. */
  public ModelConfigBuilder toBuilder() {
    return new ModelConfigBuilder(this);
  }

  /**
   * Bottleneck blocks per stage of a ResNet v2 of {@code depth} layers, from {@link #DEPTHS}.
   *
   * @throws IllegalArgumentException for a depth not in the table
   */
  public static List<Integer> stageBlocksOf(int depth) {
    List<Integer> blocks = DEPTHS.get(depth);
    require(blocks != null,
        "no ResNet depth " + depth + " in the depth table, expected one of " + DEPTHS.keySet());
    return blocks;
  }

  /** A copy for a dataset's native channels and number of classes. */
  public ModelConfig withData(int channels, int numClasses) {
    return toBuilder().channels(channels).numClasses(numClasses).build();
  }

  /** A copy with {@code m} masked patches per image. */
  public ModelConfig withNumMasked(int m) {
    return toBuilder().numMasked(m).build();
  }

  /** A copy with another transformer dropout rate (e.g. 0 for deterministic tests). */
  public ModelConfig withDropout(double rate) {
    return toBuilder().dropout(rate).build();
  }

  /** A copy with the zero-init of each block's last conv switched on or off. */
  public ModelConfig withZeroInitLast(boolean on) {
    return toBuilder().zeroInitLast(on).build();
  }

  /** A copy whose Selfie loss divides the logits by {@code t}. */
  public ModelConfig withTemperature(double t) {
    return toBuilder().temperature(t).build();
  }

  /** A copy with the context position embeddings on or off. */
  public ModelConfig withContextPositions(boolean on) {
    return toBuilder().contextPositions(on).build();
  }

  /** A copy with another query mode. */
  public ModelConfig withQueryMode(QueryMode mode) {
    return toBuilder().queryMode(mode).build();
  }

  /** A copy with content-aware masking on or off. */
  public ModelConfig withMaskContent(boolean on) {
    return toBuilder().maskContent(on).build();
  }

  /** True when every pretraining variant is off: the paper's formulation. */
  @JsonIgnore
  public boolean isPaperFormulation() {
    return !contextPositions && queryMode == QueryMode.ADD && !maskContent;
  }

  /** The ResNet's depth, {@code 3 * (b1 + b2 + b3 + b4) + 2} ({@link #DEPTHS}): 50 in paper. */
  @JsonIgnore
  public int depth() {
    return 3 * stageBlocks.stream().mapToInt(Integer::intValue).sum() + 2;
  }

  /** g: patches per row and per column. */
  @JsonIgnore
  public int grid() {
    return imageSize / patchSize;
  }

  /** n = g^2: patches per image. */
  @JsonIgnore
  public int numPatches() {
    return grid() * grid();
  }

  /** n - m: context (visible) patches per image. */
  @JsonIgnore
  public int numContext() {
    return numPatches() - numMasked;
  }

  /** d / heads. */
  @JsonIgnore
  public int headDim() {
    return d / heads;
  }
}
