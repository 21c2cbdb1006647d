package dev.selfie.experiments;

import dev.selfie.training.jobs.Pretrain;
import dev.selfie.training.jobs.PretrainedRun;
import dev.selfie.training.loop.EventFiles;
import dev.selfie.training.run.MetricsWriter;
import dev.selfie.training.run.RunDir;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The pretraining an experiment reuses ({@code --pretrained}): the summary of a finished run, or
 * of one of its checkpoints, read from what the run wrote (metrics.json, TensorBoard scalars).
 */
public final class PretrainedSummaries {
  private static final Logger LOG = LoggerFactory.getLogger(PretrainedSummaries.class);

  private PretrainedSummaries() {}

  /**
   * The summary of a finished pretraining run given by {@code --pretrained}, or of one of its
   * checkpoints ({@code RUN/checkpoints/ckpt-N}, e.g. chosen on validation with finetune): loss and
   * patch accuracy are then the mean of the last {@value #CHECKPOINT_WINDOW} values the run logged
   * up to step N (the run's summary for its final checkpoint), the wall time the run's, prorated
   * to N steps.
   */
  public static Experiment.PretrainSummary of(Path dir) {
    if (PretrainedRun.isCheckpointDir(dir)) {
      return checkpointSummary(dir);
    }
    RunDir run = new RunDir(dir);
    if (!Files.isRegularFile(run.metrics())) {
      throw new IllegalArgumentException("--pretrained " + dir + ": no metrics.json (expected a"
          + " finished pretraining run directory)");
    }
    Pretrain.Config cfg = run.readConfig(Pretrain.Config.class);
    MetricsWriter.Metrics m = MetricsWriter.read(run.metrics());
    if (m.steps() < cfg.steps()) {
      throw new IllegalArgumentException("--pretrained " + dir + " stopped at step " + m.steps()
          + " of " + cfg.steps() + "; finish it first (selfie pretrain --resume)");
    }
    LOG.info(String.format("pretraining: reusing %s (%d steps)", dir, m.steps()));
    return new Experiment.PretrainSummary(m.steps(), m.meanLoss(),
        100 * m.metrics().getOrDefault("patch_accuracy", Double.NaN),
        100.0 / cfg.model().numMasked(), m.imagesPerSecond(), m.wallSeconds());
  }

  static final int CHECKPOINT_WINDOW = 10;

  private static Experiment.PretrainSummary checkpointSummary(Path ckpt) {
    Path runPath = ckpt.toAbsolutePath().normalize().getParent().getParent();
    String name = ckpt.getFileName().toString();
    long steps;
    try {
      steps = Long.parseLong(name.substring(name.lastIndexOf('-') + 1));
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("--pretrained " + ckpt + ": expected a checkpoint"
          + " directory named ckpt-<step>");
    }
    RunDir run = new RunDir(runPath);
    Pretrain.Config cfg = run.readConfig(Pretrain.Config.class);
    if (steps == cfg.steps() && Files.isRegularFile(run.metrics())) {
      return of(runPath); // the final checkpoint: the run's own summary
    }
    double wall = Double.NaN;
    double rate = Double.NaN;
    if (Files.isRegularFile(run.metrics())) {
      MetricsWriter.Metrics m = MetricsWriter.read(run.metrics());
      rate = m.imagesPerSecond();
      wall = m.wallSeconds() * steps / Math.max(1, m.steps());
    }
    List<EventFiles.Scalar> scalars = EventFiles.scalars(runPath.resolve("tensorboard"));
    double loss = windowMean(scalars, "loss", steps);
    double accuracy = windowMean(scalars, "patch_accuracy", steps);
    LOG.info(String.format(
        "pretraining: reusing checkpoint %s (step %d of %d)", ckpt, steps, cfg.steps()));
    return new Experiment.PretrainSummary(steps, loss, 100 * accuracy, 100.0 / cfg.model().numMasked(),
        rate, wall);
  }

  /** Mean of the last {@link #CHECKPOINT_WINDOW} logged values of {@code tag} at steps {@code <= max}. */
  public static double windowMean(List<EventFiles.Scalar> scalars, String tag, long max) {
    List<EventFiles.Scalar> s = scalars.stream()
        .filter(x -> x.tag().equals(tag) && x.step() <= max).toList();
    if (s.isEmpty()) {
      return Double.NaN;
    }
    return s.subList(Math.max(0, s.size() - CHECKPOINT_WINDOW), s.size()).stream()
        .mapToDouble(EventFiles.Scalar::value).average().orElseThrow();
  }
}
