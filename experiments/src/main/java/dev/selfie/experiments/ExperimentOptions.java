package dev.selfie.experiments;

import dev.selfie.training.jobs.Pretrain;
import dev.selfie.training.jobs.PretrainedRun;
import dev.selfie.training.optim.OptimizerConfig;
import dev.selfie.training.runtime.Precision;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;

/**
 * Options of {@code selfie experiment} ({@link Experiment#run}). Build them with {@link #builder}
 * (the command line's defaults) or change a copy with {@link #toBuilder}.
 *
 * @param fractions label fractions in (0, 1]
 * @param seeds seeds 1..seeds per fraction (label subset, fresh-layer init, data order)
 * @param pretrainLr base learning rate of pretraining (SGD-Nesterov, warmup + cosine)
 * @param finetuneLr base learning rate of every finetuning run (same for Selfie and baseline)
 * @param numMasked masked patches per image in pretraining (0 = the preset's)
 * @param probeFraction fraction of the training labels the linear probe / kNN see (0 = no probes)
 * @param pretrained reuse this finished pretraining run instead of pretraining into
 *     {@code out/pretrain} (e.g. to try finetuning settings without pretraining again); null =
 *     pretrain
 * @param command the command line recorded in the results (null = a description)
 * @param variants pretraining variants ({@code --context-positions} etc.; null = the paper's)
 * @param parallel finetuning cells run in this many worker processes at once (1 = one after
 *     the other in this process); each worker uses {@code threads} intra-op threads, or its share
 *     of the cores when {@code threads} is 0
 */
public record ExperimentOptions(
    String dataset,
    Path dataDir,
    String preset,
    List<Double> fractions,
    int seeds,
    Path out,
    long pretrainSteps,
    long finetuneSteps,
    int batchSize,
    double pretrainLr,
    double finetuneLr,
    int numMasked,
    double weightDecay,
    boolean augment,
    double probeFraction,
    int threads,
    Path pretrained,
    String command,
    Arms arms,
    List<Long> curveSteps,
    Pretrain.Variants variants,
    OptimizerConfig.WeightDecayType weightDecayType,
    String precision,
    int parallel) {
  public ExperimentOptions {
    if (weightDecayType == null) {
      weightDecayType = OptimizerConfig.WeightDecayType.DECOUPLED;
    }
    if (arms == null) {
      arms = Arms.defaults();
    }
    if (variants == null) {
      variants = Pretrain.Variants.PAPER;
    }
    precision = Precision.checkFlag(precision);
    curveSteps = curveSteps == null ? List.of()
        : curveSteps.stream().distinct().sorted().toList();
    for (long c : curveSteps) {
      // With --pretrained the run's own length applies (checked when it is read).
      if (c < 1 || (pretrained == null && c >= pretrainSteps)) {
        throw new IllegalArgumentException("--curve-steps: each must be in [1, "
            + (pretrainSteps - 1) + "] (a checkpoint before the last pretraining step), got "
            + c);
      }
    }
    if (pretrained != null && !curveSteps.isEmpty()
        && PretrainedRun.isCheckpointDir(pretrained)) {
      throw new IllegalArgumentException("--curve-steps needs a pretraining run directory, not"
          + " one checkpoint (--pretrained " + pretrained + ")");
    }
    Objects.requireNonNull(out, "--out is required");
    if (fractions == null || fractions.isEmpty()) {
      throw new IllegalArgumentException("--fractions: give at least one label fraction");
    }
    for (double f : fractions) {
      if (!(f > 0 && f <= 1)) {
        throw new IllegalArgumentException("--fractions: each must be in (0, 1], got " + f);
      }
    }
    fractions = List.copyOf(fractions);
    arms.checkFractions(fractions);
    if (seeds < 1) {
      throw new IllegalArgumentException("--seeds must be >= 1, got " + seeds);
    }
    if (pretrainSteps < 1 || finetuneSteps < 1 || batchSize < 1) {
      throw new IllegalArgumentException(
          "--pretrain-steps, --finetune-steps and --batch-size must be >= 1");
    }
    if (parallel < 1) {
      throw new IllegalArgumentException("--parallel must be >= 1 (worker processes), got "
          + parallel);
    }
    if (!(probeFraction >= 0 && probeFraction <= 1)) {
      throw new IllegalArgumentException("--probe-fraction must be in [0, 1], got " + probeFraction);
    }
  }

  /** A builder with the command line's defaults, writing into {@code out}. */
  public static Builder builder(Path out) {
    return new Builder(out);
  }

  /** A builder holding these options, to build a copy that differs in a few. */
  public Builder toBuilder() {
    Builder b = new Builder(out);
    b.dataset = dataset;
    b.dataDir = dataDir;
    b.preset = preset;
    b.fractions = fractions;
    b.seeds = seeds;
    b.pretrainSteps = pretrainSteps;
    b.finetuneSteps = finetuneSteps;
    b.batchSize = batchSize;
    b.pretrainLr = pretrainLr;
    b.finetuneLr = finetuneLr;
    b.numMasked = numMasked;
    b.weightDecay = weightDecay;
    b.augment = augment;
    b.probeFraction = probeFraction;
    b.threads = threads;
    b.pretrained = pretrained;
    b.command = command;
    b.arms = arms;
    b.curveSteps = curveSteps;
    b.variants = variants;
    b.weightDecayType = weightDecayType;
    b.precision = precision;
    b.parallel = parallel;
    return b;
  }

  /**
   * Named setters for {@link ExperimentOptions}; {@link #build} validates as the constructor does.
   * Defaults: the command line's (fashion-mnist, preset small, fractions 5/10/20/100%, 3 seeds,
   * 1000 pretraining steps at lr 0.1, 200 finetuning steps at lr 0.05, batch 64, the preset's
   * masking, weight decay 1e-4 decoupled, augmentation, probes on 10% of the labels, all cores,
   * precision auto, the paper's formulation, no curve, cells one after the other).
   */
  public static final class Builder {
    private String dataset = "fashion-mnist";
    private Path dataDir = null;
    private String preset = "small";
    private List<Double> fractions = List.of(0.05, 0.1, 0.2, 1.0);
    private int seeds = 3;
    private final Path out;
    private long pretrainSteps = 1000;
    private long finetuneSteps = 200;
    private int batchSize = 64;
    private double pretrainLr = 0.1;
    private double finetuneLr = 0.05;
    private int numMasked = 0;
    private double weightDecay = 1e-4;
    private boolean augment = true;
    private double probeFraction = 0.1;
    private int threads = 0;
    private Path pretrained = null;
    private String command = null;
    private Arms arms = Arms.defaults();
    private List<Long> curveSteps = List.of();
    private Pretrain.Variants variants = Pretrain.Variants.PAPER;
    private OptimizerConfig.WeightDecayType weightDecayType = OptimizerConfig.WeightDecayType.DECOUPLED;
    private String precision = "auto";
    private int parallel = 1;

    private Builder(Path out) {
      this.out = out;
    }

    public Builder dataset(String dataset) {
      this.dataset = dataset;
      return this;
    }

    public Builder dataDir(Path dataDir) {
      this.dataDir = dataDir;
      return this;
    }

    public Builder preset(String preset) {
      this.preset = preset;
      return this;
    }

    public Builder fractions(List<Double> fractions) {
      this.fractions = fractions;
      return this;
    }

    public Builder seeds(int seeds) {
      this.seeds = seeds;
      return this;
    }

    public Builder pretrainSteps(long pretrainSteps) {
      this.pretrainSteps = pretrainSteps;
      return this;
    }

    public Builder finetuneSteps(long finetuneSteps) {
      this.finetuneSteps = finetuneSteps;
      return this;
    }

    public Builder batchSize(int batchSize) {
      this.batchSize = batchSize;
      return this;
    }

    public Builder pretrainLr(double pretrainLr) {
      this.pretrainLr = pretrainLr;
      return this;
    }

    public Builder finetuneLr(double finetuneLr) {
      this.finetuneLr = finetuneLr;
      return this;
    }

    public Builder numMasked(int numMasked) {
      this.numMasked = numMasked;
      return this;
    }

    public Builder weightDecay(double weightDecay) {
      this.weightDecay = weightDecay;
      return this;
    }

    public Builder augment(boolean augment) {
      this.augment = augment;
      return this;
    }

    public Builder probeFraction(double probeFraction) {
      this.probeFraction = probeFraction;
      return this;
    }

    public Builder threads(int threads) {
      this.threads = threads;
      return this;
    }

    public Builder pretrained(Path pretrained) {
      this.pretrained = pretrained;
      return this;
    }

    public Builder command(String command) {
      this.command = command;
      return this;
    }

    public Builder arms(Arms arms) {
      this.arms = arms;
      return this;
    }

    public Builder curveSteps(List<Long> curveSteps) {
      this.curveSteps = curveSteps;
      return this;
    }

    public Builder variants(Pretrain.Variants variants) {
      this.variants = variants;
      return this;
    }

    public Builder weightDecayType(OptimizerConfig.WeightDecayType weightDecayType) {
      this.weightDecayType = weightDecayType;
      return this;
    }

    public Builder precision(String precision) {
      this.precision = precision;
      return this;
    }

    /** Finetuning cells in this many worker processes at once (default 1: in this process). */
    public Builder parallel(int parallel) {
      this.parallel = parallel;
      return this;
    }

    public ExperimentOptions build() {
      return new ExperimentOptions(dataset, dataDir, preset, fractions, seeds, out, pretrainSteps, finetuneSteps, batchSize, pretrainLr, finetuneLr, numMasked, weightDecay, augment, probeFraction, threads, pretrained, command, arms, curveSteps, variants, weightDecayType, precision, parallel);
    }
  }
}
