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
   * Options of {@code selfie quickstart}: start from {@link #defaults} (the command line's) and
   * change what differs with the withers.
   *
   * @param out the directory of the three runs and the summary
   * @param preset the model ({@code --preset})
   * @param data dataset, data directory, batch size (both arms and the pretraining)
   * @param runtime seed, threads, precision
   * @param pretrainSteps pretraining steps
   * @param finetuneSteps finetuning steps of each arm
   * @param headSteps Selfie arm: steps that train only the new layers first (LP-FT), in [0,
   *     finetuneSteps)
   * @param labelFraction the fraction of training labels both arms finetune on, in (0, 1]
   * @param numMasked masked patches per image in pretraining (0 = the preset's)
   * @param finetuneLr finetuning learning rate of the Selfie arm
   * @param baselineLr finetuning learning rate of the supervised arm (each arm at its own best)
   * @param variants pretraining variants (null: the paper's formulation)
   * @param weightDecay weight decay of every run, >= 0
   * @param weightDecayType how it is applied (null: decoupled)
   */
  public record Options(
      Path out,
      String preset,
      DataOptions data,
      RuntimeOptions runtime,
      long pretrainSteps,
      long finetuneSteps,
      long headSteps,
      double labelFraction,
      int numMasked,
      double finetuneLr,
      double baselineLr,
      Pretrain.Variants variants,
      double weightDecay,
      OptimizerConfig.WeightDecayType weightDecayType) {
    public Options {
      Objects.requireNonNull(out, "out");
      Objects.requireNonNull(data, "data");
      Objects.requireNonNull(runtime, "runtime");
      if (pretrainSteps < 1) {
        throw new IllegalArgumentException("--pretrain-steps must be >= 1, got " + pretrainSteps);
      }
      if (finetuneSteps < 1) {
        throw new IllegalArgumentException("--finetune-steps must be >= 1, got " + finetuneSteps);
      }
      if (headSteps < 0 || headSteps >= finetuneSteps) {
        throw new IllegalArgumentException("--head-steps must be in [0, --finetune-steps), got "
            + headSteps);
      }
      if (!(labelFraction > 0 && labelFraction <= 1)) {
        throw new IllegalArgumentException(
            "--label-fraction must be in (0, 1], got " + labelFraction);
      }
      if (!(finetuneLr > 0) || !(baselineLr > 0)) {
        throw new IllegalArgumentException("--finetune-lr and --baseline-lr must be > 0, got "
            + finetuneLr + " and " + baselineLr);
      }
      if (variants == null) {
        variants = Pretrain.Variants.PAPER;
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
     * The command line's defaults into {@code out}: preset small on Fashion-MNIST, batch 64, 3000
     * pretraining steps with 8 of 16 patches masked, 5% of the labels, 1000 finetuning steps,
     * Selfie at lr 0.1 (training its new layers alone for the first 200), the supervised baseline
     * at lr 0.4 (each arm's best at 5% labels on the validation split), weight decay 1e-4
     * (decoupled), seed 1, all cores, precision auto.
     */
    public static Options defaults(Path out) {
      return new Options(out, "small", DataOptions.defaults(), RuntimeOptions.defaults(), 3000,
          1000, 200, 0.05, 8, 0.1, 0.4, Pretrain.Variants.PAPER, 1e-4,
          OptimizerConfig.WeightDecayType.DECOUPLED);
    }

    public Options withPreset(String p) {
      return new Options(out, p, data, runtime, pretrainSteps, finetuneSteps, headSteps,
          labelFraction, numMasked, finetuneLr, baselineLr, variants, weightDecay, weightDecayType);
    }

    public Options withData(DataOptions d) {
      return new Options(out, preset, d, runtime, pretrainSteps, finetuneSteps, headSteps,
          labelFraction, numMasked, finetuneLr, baselineLr, variants, weightDecay, weightDecayType);
    }

    public Options withRuntime(RuntimeOptions r) {
      return new Options(out, preset, data, r, pretrainSteps, finetuneSteps, headSteps,
          labelFraction, numMasked, finetuneLr, baselineLr, variants, weightDecay, weightDecayType);
    }

    /** The budget: pretraining steps, finetuning steps of each arm, head-first steps. */
    public Options withSteps(long pretrain, long finetune, long head) {
      return new Options(out, preset, data, runtime, pretrain, finetune, head, labelFraction,
          numMasked, finetuneLr, baselineLr, variants, weightDecay, weightDecayType);
    }

    public Options withLabelFraction(double f) {
      return new Options(out, preset, data, runtime, pretrainSteps, finetuneSteps, headSteps, f,
          numMasked, finetuneLr, baselineLr, variants, weightDecay, weightDecayType);
    }

    public Options withNumMasked(int m) {
      return new Options(out, preset, data, runtime, pretrainSteps, finetuneSteps, headSteps,
          labelFraction, m, finetuneLr, baselineLr, variants, weightDecay, weightDecayType);
    }

    public Options withFinetuneLr(double lr) {
      return new Options(out, preset, data, runtime, pretrainSteps, finetuneSteps, headSteps,
          labelFraction, numMasked, lr, baselineLr, variants, weightDecay, weightDecayType);
    }

    /** The supervised arm's learning rate. */
    public Options withBaselineLr(double lr) {
      return new Options(out, preset, data, runtime, pretrainSteps, finetuneSteps, headSteps,
          labelFraction, numMasked, finetuneLr, lr, variants, weightDecay, weightDecayType);
    }

    public Options withVariants(Pretrain.Variants v) {
      return new Options(out, preset, data, runtime, pretrainSteps, finetuneSteps, headSteps,
          labelFraction, numMasked, finetuneLr, baselineLr, v, weightDecay, weightDecayType);
    }

    public Options withWeightDecay(double wd, OptimizerConfig.WeightDecayType type) {
      return new Options(out, preset, data, runtime, pretrainSteps, finetuneSteps, headSteps,
          labelFraction, numMasked, finetuneLr, baselineLr, variants, wd, type);
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
        .withSchedule(schedule(o, steps, 0.1))
        .withCheckpoints(CheckpointOptions.defaults().withResume(true)
            .withCheckpointEvery(Math.max(1, steps / 2)).withKeep(2))
        .withRuntime(o.runtime())
        .withNumMasked(o.numMasked())
        .withVariants(o.variants());
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

  static String table(Options o, Result r) {
    StringBuilder sb = new StringBuilder();
    sb.append(String.format("Selfie quickstart: %s, preset %s, %.0f%% labels (%d images), "
            + "%d pretraining + %d finetuning steps%s, batch %d; finetuning lr: Selfie %s,"
            + " supervised %s%n%n", o.data().dataset(), o.preset(),
        100 * o.labelFraction(), r.selfie().labeledExamples(), o.pretrainSteps(),
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
