package dev.selfie.experiments;

import dev.selfie.training.jobs.Evaluate;
import dev.selfie.training.jobs.Finetune;
import dev.selfie.training.jobs.Pretrain;
import dev.selfie.training.optim.OptimizerConfig;
import dev.selfie.training.options.CheckpointOptions;
import dev.selfie.training.options.DataOptions;
import dev.selfie.training.options.RuntimeOptions;
import dev.selfie.training.options.ScheduleOptions;
import dev.selfie.training.run.Json;
import dev.selfie.training.run.RunDir;
import dev.selfie.training.runtime.Precision;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The main job end to end: Selfie pretraining, finetuning on a label fraction from the pretrained
 * weights and from random init (identical network, schedule and labeled examples), evaluation of
 * both, export of all three runs as SavedModels, and a two-row comparison table. Each stage runs
 * with resume on, so running it again continues where it stopped.
 */
public final class Quickstart {
  private static final Logger LOG = LoggerFactory.getLogger(Quickstart.class);

  private Quickstart() {}

  /**
   * The quickstart's pretraining run.
   *
   * @param steps pretraining steps
   * @param numMasked masked patches per image (0 = the preset's)
   * @param lr base learning rate (warmup over a tenth of the steps, then cosine)
   * @param clipNorm global gradient norm clipping (0 = none)
   * @param variants pretraining variants (null: the paper's formulation)
   */
  public record Pretraining(long steps, int numMasked, double lr, double clipNorm,
      Pretrain.Variants variants) {
    public Pretraining {
      if (steps < 1) {
        throw new IllegalArgumentException("--pretrain-steps must be >= 1, got " + steps);
      }
      if (!(lr > 0) || !Double.isFinite(lr)) {
        throw new IllegalArgumentException("--pretrain-lr must be > 0, got " + lr);
      }
      ScheduleOptions.checkClipNorm(clipNorm);
      if (variants == null) {
        variants = Pretrain.Variants.PAPER;
      }
    }

    public Pretraining withSteps(long n) {
      return new Pretraining(n, numMasked, lr, clipNorm, variants);
    }

    public Pretraining withNumMasked(int m) {
      return new Pretraining(steps, m, lr, clipNorm, variants);
    }

    public Pretraining withLr(double x) {
      return new Pretraining(steps, numMasked, x, clipNorm, variants);
    }

    public Pretraining withClipNorm(double x) {
      return new Pretraining(steps, numMasked, lr, x, variants);
    }

    public Pretraining withVariants(Pretrain.Variants v) {
      return new Pretraining(steps, numMasked, lr, clipNorm, v);
    }
  }

  /**
   * The two finetuning runs.
   *
   * @param steps finetuning steps of each arm
   * @param headSteps Selfie arm: steps that train only the new layers first (LP-FT), in [0,
   *     steps)
   * @param selfieLr learning rate of the Selfie arm
   * @param baselineLr learning rate of the supervised arm (each arm at its own best)
   */
  public record Finetuning(long steps, long headSteps, double selfieLr, double baselineLr) {
    public Finetuning {
      if (steps < 1) {
        throw new IllegalArgumentException("--finetune-steps must be >= 1, got " + steps);
      }
      if (headSteps < 0 || headSteps >= steps) {
        throw new IllegalArgumentException("--head-steps must be in [0, --finetune-steps), got "
            + headSteps);
      }
      if (!(selfieLr > 0) || !(baselineLr > 0)) {
        throw new IllegalArgumentException("--finetune-lr and --baseline-lr must be > 0, got "
            + selfieLr + " and " + baselineLr);
      }
    }
  }

  /**
   * Options of {@code selfie quickstart}: start from {@link #defaults} (the command line's) and
   * change what differs with the withers.
   *
   * @param out the directory of the three runs and the summary
   * @param preset the model ({@code --preset})
   * @param data dataset, data directory, batch size (both arms and the pretraining)
   * @param runtime seed, threads, precision
   * @param pretraining the pretraining run's budget and recipe
   * @param finetuning the two finetuning runs' budget and learning rates
   * @param labelFraction the fraction of training labels both arms finetune on, in (0, 1]
   * @param weightDecay weight decay of every run, >= 0
   * @param weightDecayType how it is applied (null: decoupled)
   */
  public record Options(
      Path out,
      String preset,
      DataOptions data,
      RuntimeOptions runtime,
      Pretraining pretraining,
      Finetuning finetuning,
      double labelFraction,
      double weightDecay,
      OptimizerConfig.WeightDecayType weightDecayType) {
    public Options {
      Objects.requireNonNull(out, "out");
      Objects.requireNonNull(data, "data");
      Objects.requireNonNull(runtime, "runtime");
      Objects.requireNonNull(pretraining, "pretraining");
      Objects.requireNonNull(finetuning, "finetuning");
      if (!(labelFraction > 0 && labelFraction <= 1)) {
        throw new IllegalArgumentException(
            "--label-fraction must be in (0, 1], got " + labelFraction);
      }
      if (weightDecayType == null) {
        weightDecayType = OptimizerConfig.WeightDecayType.DECOUPLED;
      }
      if (!(weightDecay >= 0 && Double.isFinite(weightDecay))) {
        throw new IllegalArgumentException("--weight-decay must be >= 0, got " + weightDecay);
      }
      Pretrain.checkPreset(preset);
    }

    /**
     * The command line's defaults into {@code out}: preset small on Fashion-MNIST, batch 64, 7000
     * pretraining steps with 12 of 16 patches masked at lr 0.3, gradients clipped to norm 1.0
     * (the best of lr 0.1 / 0.3 at 5% labels on the validation split), 5% of the labels, 1000
     * finetuning steps, Selfie at lr 0.1 (training its new layers alone for the first 200), the
     * supervised baseline at lr 0.4 (each arm's best at 5% labels on the validation split), weight
     * decay 1e-4 (decoupled), seed 1, all cores, precision auto.
     */
    public static Options defaults(Path out) {
      return new Options(out, "small", DataOptions.defaults(), RuntimeOptions.defaults(),
          new Pretraining(7000, 12, 0.3, 1.0, Pretrain.Variants.PAPER),
          new Finetuning(1000, 200, 0.1, 0.4), 0.05, 1e-4,
          OptimizerConfig.WeightDecayType.DECOUPLED);
    }

    public long pretrainSteps() {
      return pretraining.steps();
    }

    public long finetuneSteps() {
      return finetuning.steps();
    }

    public long headSteps() {
      return finetuning.headSteps();
    }

    public int numMasked() {
      return pretraining.numMasked();
    }

    public double finetuneLr() {
      return finetuning.selfieLr();
    }

    public double baselineLr() {
      return finetuning.baselineLr();
    }

    public Options withPreset(String p) {
      return new Options(out, p, data, runtime, pretraining, finetuning, labelFraction,
          weightDecay, weightDecayType);
    }

    public Options withData(DataOptions d) {
      return new Options(out, preset, d, runtime, pretraining, finetuning, labelFraction,
          weightDecay, weightDecayType);
    }

    public Options withRuntime(RuntimeOptions r) {
      return new Options(out, preset, data, r, pretraining, finetuning, labelFraction,
          weightDecay, weightDecayType);
    }

    public Options withPretraining(Pretraining p) {
      return new Options(out, preset, data, runtime, p, finetuning, labelFraction, weightDecay,
          weightDecayType);
    }

    public Options withFinetuning(Finetuning f) {
      return new Options(out, preset, data, runtime, pretraining, f, labelFraction, weightDecay,
          weightDecayType);
    }

    /** The budget: pretraining steps, finetuning steps of each arm, head-first steps. */
    public Options withSteps(long pretrain, long finetune, long head) {
      return withPretraining(pretraining.withSteps(pretrain)).withFinetuning(new Finetuning(
          finetune, head, finetuning.selfieLr(), finetuning.baselineLr()));
    }

    public Options withLabelFraction(double f) {
      return new Options(out, preset, data, runtime, pretraining, finetuning, f, weightDecay,
          weightDecayType);
    }

    public Options withNumMasked(int m) {
      return withPretraining(pretraining.withNumMasked(m));
    }

    /** The pretraining run's base learning rate. */
    public Options withPretrainLr(double lr) {
      return withPretraining(pretraining.withLr(lr));
    }

    /** The pretraining run's gradient clipping (0 = none). */
    public Options withClipNorm(double norm) {
      return withPretraining(pretraining.withClipNorm(norm));
    }

    public Options withVariants(Pretrain.Variants v) {
      return withPretraining(pretraining.withVariants(v));
    }

    /** The Selfie arm's learning rate. */
    public Options withFinetuneLr(double lr) {
      return withFinetuning(new Finetuning(finetuning.steps(), finetuning.headSteps(), lr,
          finetuning.baselineLr()));
    }

    /** The supervised arm's learning rate. */
    public Options withBaselineLr(double lr) {
      return withFinetuning(new Finetuning(finetuning.steps(), finetuning.headSteps(),
          finetuning.selfieLr(), lr));
    }

    public Options withWeightDecay(double wd, OptimizerConfig.WeightDecayType type) {
      return new Options(out, preset, data, runtime, pretraining, finetuning, labelFraction, wd,
          type);
    }
  }

  /** One row of the comparison. */
  public record Row(String model, double testAccuracy, long testExamples, int labeledExamples,
      long steps, double wallSeconds, String savedModel) {}

  public record Result(Path out, double patchAccuracy, double chance, Row selfie, Row baseline,
      double totalSeconds) {
    public double gain() {
      return selfie.testAccuracy() - baseline.testAccuracy();
    }
  }

  public static Result run(Options o) throws IOException {
    long t0 = System.nanoTime();
    Path pretrainDir = o.out().resolve("pretrain");
    Path selfieDir = o.out().resolve("finetune-selfie");
    Path baselineDir = o.out().resolve("finetune-baseline");
    // Each run exports its SavedModel at its end (Options.export).
    Pretrain.Options pretrain = pretrainOptions(o, pretrainDir);
    Finetune.Options finetuneSelfie = finetuneOptions(o, selfieDir, pretrainDir, null);
    Finetune.Options finetuneBaseline = finetuneOptions(o, baselineDir, null,
        new RunDir(selfieDir).labelsManifest());
    Files.createDirectories(o.out());

    LOG.info("== 1/4 pretraining (" + o.preset() + ", " + o.pretrainSteps() + " steps) -> "
        + pretrainDir);
    Pretrain.Result pre = Pretrain.run(pretrain);

    LOG.info("== 2/4 finetuning from pretraining (" + o.labelFraction() * 100
        + "% labels) -> " + selfieDir);
    Finetune.Result selfie = Finetune.run(finetuneSelfie);

    LOG.info("== 3/4 baseline from random init (same labels, same schedule) -> "
        + baselineDir);
    Finetune.Result baseline = Finetune.run(finetuneBaseline);

    LOG.info("== 4/4 evaluation");
    Evaluate.Result evalSelfie = Evaluate.run(selfieDir, null, o.data().dataDir(), 500);
    Evaluate.Result evalBaseline = Evaluate.run(baselineDir, null, o.data().dataDir(), 500);
    Row rs = new Row("Selfie (pretrained)", evalSelfie.accuracy(), evalSelfie.total(),
        selfie.labeledExamples(), selfie.steps(), pre.wallSeconds() + selfie.wallSeconds(),
        selfieDir.resolve("savedmodel").toString());
    Row rb = new Row("Supervised baseline", evalBaseline.accuracy(), evalBaseline.total(),
        baseline.labeledExamples(), baseline.steps(), baseline.wallSeconds(),
        baselineDir.resolve("savedmodel").toString());
    Result r = new Result(o.out().toAbsolutePath(), pre.patchAccuracy(), pre.chanceAccuracy(),
        rs, rb, (System.nanoTime() - t0) / 1e9);
    String table = table(o, r);
    LOG.info("");
    LOG.info(table.stripTrailing());
    Files.writeString(o.out().resolve("summary.md"), table);
    Map<String, Object> json = new LinkedHashMap<>();
    json.put("options", o);
    json.put("result", r);
    json.put("gain", r.gain());
    Json.writeAtomic(o.out().resolve("summary.json"), json);
    return r;
  }

  /** The pretraining run of the quickstart into {@code out}: exported, resumable. */
  public static Pretrain.Options pretrainOptions(Options o, Path out) {
    long steps = o.pretrainSteps();
    return Pretrain.Options.defaults(out)
        .withPreset(o.preset())
        .withData(o.data())
        .withSchedule(schedule(o, steps, o.pretraining().lr())
            .withClipNorm(o.pretraining().clipNorm()))
        .withCheckpoints(CheckpointOptions.defaults().withResume(true)
            .withCheckpointEvery(Math.max(1, steps / 2)).withKeep(2))
        .withRuntime(o.runtime())
        .withNumMasked(o.numMasked())
        .withVariants(o.pretraining().variants());
  }

  /**
   * A finetuning run of the quickstart into {@code out}: from {@code pretrained} with the
   * head-first steps, or the baseline (null) on the labels of {@code manifest} (null: drawn).
   */
  public static Finetune.Options finetuneOptions(Options o, Path out, Path pretrained,
      Path manifest) {
    long steps = o.finetuneSteps();
    return Finetune.Options.defaults(out)
        .withPretrained(pretrained)
        .withPreset(o.preset())
        .withLabels(new Finetune.Labels(o.labelFraction(), manifest))
        .withData(o.data())
        .withSchedule(schedule(o, steps, pretrained == null ? o.baselineLr() : o.finetuneLr()))
        .withCheckpoints(CheckpointOptions.defaults().withResume(true)
            .withCheckpointEvery(Math.max(1, steps)).withKeep(1))
        .withRuntime(o.runtime())
        .withRecipe(pretrained == null ? Finetune.Recipe.defaults()
            : Finetune.Recipe.defaults().withHeadSteps(o.headSteps()));
  }

  /** SGD at {@code lr} for {@code steps}, warming up for a tenth of them. */
  private static ScheduleOptions schedule(Options o, long steps, double lr) {
    return ScheduleOptions.defaults().withSteps(steps).withLr(lr)
        .withWarmup(Math.max(1, steps / 10)).withWeightDecay(o.weightDecay(), o.weightDecayType());
  }

  /** The comparison table of {@code summary.md}, printed at the end of a quickstart. */
  public static String table(Options o, Result r) {
    StringBuilder sb = new StringBuilder();
    Pretraining p = o.pretraining();
    sb.append(String.format("Selfie quickstart: %s, preset %s, %.0f%% labels (%d images), "
            + "%d pretraining steps (%s masked, lr %s%s) + %d finetuning steps%s, batch %d;"
            + " finetuning lr: Selfie %s, supervised %s%n%n", o.data().dataset(), o.preset(),
        100 * o.labelFraction(), r.selfie().labeledExamples(), p.steps(),
        p.numMasked() > 0 ? p.numMasked() + " patches" : "the preset's number of patches",
        p.lr(), p.clipNorm() > 0 ? ", gradients clipped to norm " + p.clipNorm() : "",
        o.finetuneSteps(), o.headSteps() > 0 ? " (Selfie: the new layers alone for the first "
            + o.headSteps() + ")" : "", o.data().batchSize(), o.finetuneLr(), o.baselineLr()));
    sb.append(String.format("pretraining patch-selection accuracy: %.1f%% (chance %.1f%%)%n%n",
        100 * r.patchAccuracy(), 100 * r.chance()));
    sb.append("| model | test accuracy | test images |\n|---|---|---|\n");
    for (Row row : List.of(r.selfie(), r.baseline())) {
      sb.append(String.format("| %s | %.2f%% | %d |%n", row.model(), 100 * row.testAccuracy(),
          row.testExamples()));
    }
    sb.append(String.format("%ngain from pretraining: %+.2f points; total time %.1f min%n",
        100 * r.gain(), r.totalSeconds() / 60));
    return sb.toString();
  }
}
