package dev.selfie.experiments;

import static dev.selfie.experiments.Experiment.BASELINE;
import static dev.selfie.experiments.Experiment.SELFIE;

import dev.selfie.experiments.Experiment.PretrainSummary;
import dev.selfie.experiments.Experiment.ProbeRow;
import dev.selfie.experiments.Experiment.Run;
import dev.selfie.training.jobs.Finetune;
import dev.selfie.training.jobs.Pretrain;
import dev.selfie.training.jobs.Probe;
import dev.selfie.training.options.CheckpointOptions;
import dev.selfie.training.options.DataOptions;
import dev.selfie.training.options.RuntimeOptions;
import dev.selfie.training.options.ScheduleOptions;
import dev.selfie.training.run.Json;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The jobs an {@link Experiment} runs: its pretraining, each cell's finetune, the probes. Each
 * writes a marker ({@code run.json}, {@code probe-*.json}) when it finishes and is skipped when
 * its marker exists, so an interrupted experiment resumes where it stopped.
 */
final class ExperimentJobs {
  private static final Logger LOG = LoggerFactory.getLogger(Experiment.class);

  private ExperimentJobs() {}

  static PretrainSummary pretrain(ExperimentOptions o, Path dir) throws IOException {
    Path marker = dir.resolve("run.json");
    if (Files.isRegularFile(marker)) {
      PretrainSummary s = Json.read(marker, PretrainSummary.class);
      LOG.info(String.format(
          "pretraining: done (%d steps, patch accuracy %.1f%%), reusing %s", s.steps(),
          s.patchAccuracy(), dir));
      return s;
    }
    LOG.info("== pretraining (" + o.preset() + ", " + o.pretrainSteps() + " steps, batch "
        + o.batchSize() + ") -> " + dir);
    long steps = o.pretrainSteps();
    // With --curve-steps every curve point must be a kept checkpoint.
    long every = Math.max(1, steps / 4);
    int keep = 1;
    if (!o.curveSteps().isEmpty()) {
      every = steps;
      for (long c : o.curveSteps()) {
        every = java.math.BigInteger.valueOf(every).gcd(java.math.BigInteger.valueOf(c))
            .longValue();
      }
      keep = (int) Math.min(Integer.MAX_VALUE, steps / every + 1);
    }
    // The pretraining run is the experiment's reusable model: exported at its end like `selfie
    // pretrain` (about 2 s for preset small); the finetuning cells are measurements and are not.
    Pretrain.Result r = Pretrain.run(Pretrain.Options.defaults(dir)
        .withPreset(o.preset())
        .withData(data(o))
        .withSchedule(schedule(o, steps, o.pretrainLr()))
        .withCheckpoints(CheckpointOptions.defaults().withResume(true).withCheckpointEvery(every)
            .withKeep(keep).withLogEvery(50).withSummaryEvery(50))
        .withRuntime(runtime(o))
        .withNumMasked(o.numMasked())
        .withVariants(o.variants()));
    PretrainSummary s = new PretrainSummary(r.steps(), r.finalLoss(), 100 * r.patchAccuracy(),
        100 * r.chanceAccuracy(), r.imagesPerSecond(), r.wallSeconds());
    Json.writeAtomic(marker, s);
    return s;
  }

  private static DataOptions data(ExperimentOptions o) {
    return DataOptions.of(o.dataset(), o.dataDir()).withBatchSize(o.batchSize())
        .withAugment(o.augment());
  }

  /** SGD at {@code lr} for {@code steps}, warming up for a tenth of them. */
  private static ScheduleOptions schedule(ExperimentOptions o, long steps, double lr) {
    return ScheduleOptions.defaults().withSteps(steps).withLr(lr)
        .withWarmup(Math.max(1, steps / 10)).withWeightDecay(o.weightDecay(), o.weightDecayType());
  }

  /** Seed 1 (the cells set their own). */
  private static RuntimeOptions runtime(ExperimentOptions o) {
    return RuntimeOptions.defaults().withThreads(o.threads()).withPrecision(o.precision());
  }

  static Run cellRun(ExperimentOptions o, Path dir, double fraction, long seed, Path pretrained,
      Path manifest, int index, int total) throws IOException {
    Path marker = dir.resolve("run.json");
    String model = pretrained != null ? SELFIE : BASELINE;
    if (Files.isRegularFile(marker)) {
      Run r = Json.read(marker, Run.class);
      LOG.info(String.format(
          "[%d/%d] %s, %s labels, seed %d: done (%.2f%%), skipped", index, total, model,
          ExperimentReport.pct(fraction), seed, r.accuracy()));
      return r;
    }
    LOG.info(String.format("== [%d/%d] %s finetune, %s labels, seed %d -> %s", index, total, model,
        ExperimentReport.pct(fraction), seed, dir));
    Arms arms = o.arms();
    boolean baseline = pretrained == null;
    long steps = baseline && arms.baselineSteps() > 0 ? arms.baselineSteps() : o.finetuneSteps();
    double lr = arms.lr(baseline, fraction, o.finetuneLr());
    // No SavedModel per cell (about 1 s and 2 MB each for preset small; `selfie export --run DIR`
    // makes one when wanted). No validation pass during training (--eval-every 0): a cell's
    // validation accuracy is read once, at its end.
    Finetune.Result r = Finetune.run(Finetune.Options.defaults(dir)
        .withPretrained(pretrained)
        .withPreset(o.preset())
        .withLabels(new Finetune.Labels(fraction, manifest))
        .withData(data(o))
        .withSchedule(schedule(o, steps, lr))
        .withCheckpoints(CheckpointOptions.defaults().withResume(true)
            .withCheckpointEvery(Math.max(1, steps / 2)).withKeep(1).withLogEvery(100)
            .withSummaryEvery(100))
        .withRuntime(runtime(o).withSeed(seed))
        .withRecipe(arms.recipe())
        .withEvalEvery(0)
        .withExport(false));
    double headline = arms.recipe().test() ? r.testAccuracy() : r.validationAccuracy();
    Run run = new Run(fraction, seed, model, 100 * headline, r.labeledExamples(),
        arms.recipe().test() ? r.testExamples() : 0, r.steps(), r.wallSeconds(), dir.toString(),
        arms.recipe().validation() > 0 ? 100 * r.validationAccuracy() : null);
    Json.writeAtomic(marker, run);
    return run;
  }

  static ProbeRow probe(ExperimentOptions o, Path out, Path pretrained)
      throws IOException {
    String init = pretrained == null ? "random" : "pretrained";
    Path marker = out.resolve("probe-" + init + "-image.json");
    if (Files.isRegularFile(marker)) {
      return Json.read(marker, ProbeRow.class);
    }
    LOG.info("== linear probe + kNN on frozen " + init + " image features ("
        + ExperimentReport.pct(o.probeFraction()) + " of the training labels)");
    int k = 20;
    Probe.Result r = Probe.run(new Probe.Options(o.dataset(), o.dataDir(), pretrained,
        o.preset(), Probe.Features.IMAGE, o.probeFraction(), 1, k, 300, 500));
    ProbeRow row = new ProbeRow(init, r.features(), 100 * r.linearAccuracy(),
        100 * r.knnAccuracy(), k, r.trainExamples(), r.testExamples(), r.dim());
    Json.writeAtomic(marker, row);
    return row;
  }
}
