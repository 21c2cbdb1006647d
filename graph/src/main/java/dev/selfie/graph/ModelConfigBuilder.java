package dev.selfie.graph;

import dev.selfie.graph.ModelConfig.QueryMode;
import dev.selfie.graph.ModelConfig.Stem;
import java.util.List;

/**
 * Builds a {@link ModelConfig} by name instead of by position: {@link ModelConfig#builder} for a
 * new one, {@link ModelConfig#toBuilder} for a copy that differs in a few values, e.g. the
 * {@code paper224} preset:
 *
 * <pre>{@code
 * ModelConfig.preset("paper").toBuilder()
 *     .imageSize(224).patchSize(32).numMasked(12).stem(Stem.IMAGENET).numClasses(1000)
 *     .build();
 * }</pre>
 *
 * <p>One setter per record component, with the component's name and meaning (see
 * {@link ModelConfig}), plus {@link #depth}, which sets {@code stageBlocks} from the depth table
 * {@link ModelConfig#DEPTHS}. {@link #build} calls the canonical constructor, so a builder
 * accepts exactly what the constructor accepts and rejects the rest with the same
 * {@link IllegalArgumentException} message; the setters themselves check nothing.
 *
 * <p>Defaults of {@link ModelConfig#builder}, the values of every preset: {@code channels} 3
 * (RGB), {@code dropout} 0.1, {@code zeroInitLast} true, {@code bnMomentum} 0.9,
 * {@code bnEpsilon} 1e-5, {@code lnEpsilon} 1e-6, {@code temperature} 1 and the paper's
 * formulation (no context positions, query mode {@link QueryMode#ADD}, uniform masking). The
 * geometry ({@code imageSize}, {@code patchSize}, {@code numMasked}), the network
 * ({@code stem}, {@code stemWidth}, {@code stageWidths}, {@code stageBlocks}, {@code d},
 * {@code layers}, {@code heads}, {@code ffn}) and {@code numClasses} have no default: left unset,
 * {@link #build} rejects them. Not thread-safe; a builder may build several configs.
 */
public final class ModelConfigBuilder {
  private int imageSize;
  private int channels = 3;
  private int numClasses;
  private int patchSize;
  private int numMasked;
  private Stem stem;
  private int stemWidth;
  private List<Integer> stageWidths;
  private List<Integer> stageBlocks;
  private int d;
  private int layers;
  private int heads;
  private int ffn;
  private double dropout = 0.1;
  private boolean zeroInitLast = true;
  private double bnMomentum = 0.9;
  private double bnEpsilon = 1e-5;
  private double lnEpsilon = 1e-6;
  private double temperature = 1.0;
  private boolean contextPositions;
  private QueryMode queryMode = QueryMode.ADD;
  private boolean maskContent;

  ModelConfigBuilder() {}

  ModelConfigBuilder(ModelConfig c) {
    imageSize = c.imageSize();
    channels = c.channels();
    numClasses = c.numClasses();
    patchSize = c.patchSize();
    numMasked = c.numMasked();
    stem = c.stem();
    stemWidth = c.stemWidth();
    stageWidths = c.stageWidths();
    stageBlocks = c.stageBlocks();
    d = c.d();
    layers = c.layers();
    heads = c.heads();
    ffn = c.ffn();
    dropout = c.dropout();
    zeroInitLast = c.zeroInitLast();
    bnMomentum = c.bnMomentum();
    bnEpsilon = c.bnEpsilon();
    lnEpsilon = c.lnEpsilon();
    temperature = c.temperature();
    contextPositions = c.contextPositions();
    queryMode = c.queryMode();
    maskContent = c.maskContent();
  }

  /**
   * The config, validated by {@link ModelConfig}'s canonical constructor.
   *
   * @throws IllegalArgumentException naming the first invalid value ("invalid model config: ...")
   */
  public ModelConfig build() {
    return new ModelConfig(imageSize, channels, numClasses, patchSize, numMasked, stem, stemWidth,
        stageWidths, stageBlocks, d, layers, heads, ffn, dropout, zeroInitLast, bnMomentum,
        bnEpsilon, lnEpsilon, temperature, contextPositions, queryMode, maskContent);
  }

  /** S, side of the square input image in pixels. */
  public ModelConfigBuilder imageSize(int imageSize) {
    this.imageSize = imageSize;
    return this;
  }

  /** C, image channels (1 grey, 3 RGB). */
  public ModelConfigBuilder channels(int channels) {
    this.channels = channels;
    return this;
  }

  /** K, classes of the finetuning classifier. */
  public ModelConfigBuilder numClasses(int numClasses) {
    this.numClasses = numClasses;
    return this;
  }

  /** p, side of a patch; S must be a multiple of p. */
  public ModelConfigBuilder patchSize(int patchSize) {
    this.patchSize = patchSize;
    return this;
  }

  /** m, masked patches per image, {@code 2 <= m < n}. */
  public ModelConfigBuilder numMasked(int numMasked) {
    this.numMasked = numMasked;
    return this;
  }

  /** The ResNet stem. */
  public ModelConfigBuilder stem(Stem stem) {
    this.stem = stem;
    return this;
  }

  /** Output channels of the stem conv. */
  public ModelConfigBuilder stemWidth(int stemWidth) {
    this.stemWidth = stemWidth;
    return this;
  }

  /** Output widths of the four stages (multiples of 4); stage 3's must equal d. */
  public ModelConfigBuilder stageWidths(List<Integer> stageWidths) {
    this.stageWidths = stageWidths;
    return this;
  }

  /** Bottleneck blocks of the four stages; {@link #depth} sets them by ResNet depth. */
  public ModelConfigBuilder stageBlocks(List<Integer> stageBlocks) {
    this.stageBlocks = stageBlocks;
    return this;
  }

  /**
   * The stage blocks of a ResNet v2 of {@code depth} layers, {@link ModelConfig#DEPTHS}: 50 sets
   * {@code [3, 4, 6, 3]}.
   *
   * @throws IllegalArgumentException for a depth not in the table
   */
  public ModelConfigBuilder depth(int depth) {
    return stageBlocks(ModelConfig.stageBlocksOf(depth));
  }

  /** Width of the patch embeddings and of the transformer; must equal stage 3's width. */
  public ModelConfigBuilder d(int d) {
    this.d = d;
    return this;
  }

  /** L, transformer layers of the attention pooling network. */
  public ModelConfigBuilder layers(int layers) {
    this.layers = layers;
    return this;
  }

  /** Attention heads; must divide d. */
  public ModelConfigBuilder heads(int heads) {
    this.heads = heads;
    return this;
  }

  /** Hidden width of the transformer feed-forward block. */
  public ModelConfigBuilder ffn(int ffn) {
    this.ffn = ffn;
    return this;
  }

  /** Dropout rate in the transformer, in [0, 1); 0 disables it. */
  public ModelConfigBuilder dropout(double dropout) {
    this.dropout = dropout;
    return this;
  }

  /** Start every bottleneck's residual branch at zero (its last conv's kernel). */
  public ModelConfigBuilder zeroInitLast(boolean zeroInitLast) {
    this.zeroInitLast = zeroInitLast;
    return this;
  }

  /** Decay of the BN moving averages, in [0, 1). */
  public ModelConfigBuilder bnMomentum(double bnMomentum) {
    this.bnMomentum = bnMomentum;
    return this;
  }

  /** BN epsilon. */
  public ModelConfigBuilder bnEpsilon(double bnEpsilon) {
    this.bnEpsilon = bnEpsilon;
    return this;
  }

  /** Layer-norm epsilon. */
  public ModelConfigBuilder lnEpsilon(double lnEpsilon) {
    this.lnEpsilon = lnEpsilon;
    return this;
  }

  /** The Selfie loss divides the logits by this; 1 is the paper's raw dot product. */
  public ModelConfigBuilder temperature(double temperature) {
    this.temperature = temperature;
    return this;
  }

  /** Pretraining variant: position embeddings on the patches entering A. */
  public ModelConfigBuilder contextPositions(boolean contextPositions) {
    this.contextPositions = contextPositions;
    return this;
  }

  /** How the query of a masked location is built; null means {@link QueryMode#ADD}. */
  public ModelConfigBuilder queryMode(QueryMode queryMode) {
    this.queryMode = queryMode;
    return this;
  }

  /** Pretraining variant: mask patches with content first. */
  public ModelConfigBuilder maskContent(boolean maskContent) {
    this.maskContent = maskContent;
    return this;
  }
}
