package dev.selfie.training.loop;

import dev.selfie.data.pipeline.PipelineOptions;
import dev.selfie.training.options.CheckpointOptions;
import dev.selfie.training.options.TrainingOptions;
import dev.selfie.training.run.CheckpointManager;
import dev.selfie.training.run.MetricsWriter;
import dev.selfie.training.run.RunConfig;
import dev.selfie.training.run.RunDir;
import dev.selfie.training.runtime.Devices;
import dev.selfie.training.runtime.Precision;
import dev.selfie.training.runtime.SessionConfigs;
import java.io.IOException;
import java.nio.file.Files;
import java.util.Optional;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TInt64;

/**
 * One training run, opened and fitted the same way by every job that trains (pretraining,
 * finetuning, data-parallel pretraining); the jobs differ only in their config and their graph.
 *
 * <ol>
 *   <li>{@link #opening}: before anything is written, reads the config of the run to resume, once,
 *       so the job opens its data with it, or builds the config of a new run;
 *   <li>{@link Opening#run}: creates and locks the run directory (with train.log), opens the run
 *       (a new one writes its files and config.json; a resumed one finds its newest checkpoint
 *       and start step), resolves the session options, hands the session to the job and exports
 *       the SavedModel at the end when asked;
 *   <li>{@link #fit}: restores the checkpoint and checks its global step, then trains to the
 *       last step; a finished run is not trained again, its metrics.json is read.
 * </ol>
 *
 * @param <C> the job's config (config.json)
 */
public final class RunSession<C extends RunConfig> {
  private static final Logger LOG = LoggerFactory.getLogger(RunSession.class);


  /** Writes a new run's own files, before its config.json (which marks the run as started). */
  @FunctionalInterface
  public interface NewRunFiles {
    void write(RunDir dir) throws IOException;
  }

  /** A job's work in its opened run. */
  @FunctionalInterface
  public interface Body<C extends RunConfig, R> {
    R run(RunSession<C> run) throws IOException;
  }

  /** A run about to be opened: the job's options and the config of the run to resume, if any. */
  public static final class Opening<C extends RunConfig> {
    private final String task;
    private final TrainingOptions options;
    private final Optional<C> resumed;

    private Opening(String task, TrainingOptions options, Optional<C> resumed) {
      this.task = task;
      this.options = options;
      this.resumed = resumed;
    }

    /** The config of the run to resume; empty for a new run. */
    public Optional<C> resumed() {
      return resumed;
    }

    /**
     * Runs {@code body} in the opened run of {@code config} (the resumed run's, or a new run's,
     * written with {@code newRun}'s files) at {@code precision}; see {@link RunSession}.
     */
    public <R> R run(C config, Precision.Choice precision, NewRunFiles newRun, Body<C, R> body)
        throws IOException {
      RunDir dir = RunDir.create(options.out());
      return Trainer.inRun(dir, task, options.export(),
          () -> body.run(open(this, dir, config, precision, newRun)));
    }
  }

  private final String task;
  private final CheckpointOptions options;
  private final RunDir dir;
  private final C config;
  private final CheckpointManager checkpoints;
  private final Optional<CheckpointManager.Checkpoint> resumeFrom;
  private final long startStep;
  private final Precision precision;
  private final SessionConfigs.Options sessionOptions;

  private RunSession(String task, CheckpointOptions options, RunDir dir, C config,
      CheckpointManager checkpoints, Optional<CheckpointManager.Checkpoint> resumeFrom,
      Precision precision, SessionConfigs.Options sessionOptions) {
    this.task = task;
    this.options = options;
    this.dir = dir;
    this.config = config;
    this.checkpoints = checkpoints;
    this.resumeFrom = resumeFrom;
    this.startStep = resumeFrom.map(CheckpointManager.Checkpoint::step).orElse(0L);
    this.precision = precision;
    this.sessionOptions = sessionOptions;
  }

  /**
   * The run {@code task} ("pretrain", "finetune") of {@code options} is about to open: when it
   * resumes ({@code --resume} and a config.json in the run directory), its config is read here.
   */
  public static <C extends RunConfig> Opening<C> opening(String task, TrainingOptions options,
      Class<C> type) {
    RunDir at = new RunDir(options.out());
    Optional<C> resumed = options.checkpoints().resume() && Files.exists(at.config())
        ? Optional.of(at.readConfig(type)) : Optional.empty();
    return new Opening<>(task, options, resumed);
  }

  /** Opens the run in the created and locked {@code dir}. */
  private static <C extends RunConfig> RunSession<C> open(Opening<C> opening, RunDir dir,
      C config, Precision.Choice precision, NewRunFiles newRun)
      throws IOException {
    TrainingOptions o = opening.options;
    CheckpointManager checkpoints =
        new CheckpointManager(dir.checkpoints(), o.checkpoints().keep());
    Optional<CheckpointManager.Checkpoint> resumeFrom = Optional.empty();
    if (opening.resumed.isPresent()) {
      resumeFrom = checkpoints.latest();
      LOG.info(resumeFrom.isPresent()
          ? "resuming " + dir.root() + " from step " + resumeFrom.get().step() + " of "
              + config.steps()
          : "resuming " + dir.root() + ": no valid checkpoint, starting at step 0");
    } else {
      if (checkpoints.latest().isPresent()) {
        throw new IllegalArgumentException("--out " + dir.root() + " already holds a run with"
            + " checkpoints; pass --resume to continue it, or choose another --out");
      }
      newRun.write(dir);
      dir.writeConfig(config);
      if (o.schedule().epochs() > 0) {
        LOG.info(String.format(java.util.Locale.ROOT, "--epochs %s: %d steps at batch %d",
            o.schedule().epochs(), config.steps(), o.data().batchSize()));
      }
    }
    SessionConfigs.Options session =
        Devices.resolve(o.runtime().threads(), 0, o.runtime().xla() || config.xla(), true)
            .withPrecision(precision.precision());
    LOG.info("precision: " + precision.describe());
    if (opening.resumed.isPresent()
        && precision.precision() != Precision.ofRecorded(config.precision())) {
      LOG.info("precision: the run started in " + Precision.ofRecorded(config.precision()).flag()
          + "; its float32 weights continue in " + precision.precision().flag());
    }
    return new RunSession<>(opening.task, o.checkpoints(), dir, config, checkpoints, resumeFrom,
        precision.precision(), session);
  }

  /** The run directory. */
  public RunDir dir() {
    return dir;
  }

  /** The run's config: the resumed run's, or the new run's (written to config.json). */
  public C config() {
    return config;
  }

  /** The step training starts after: the checkpoint's when resuming, else 0. */
  public long startStep() {
    return startStep;
  }

  /** True if no checkpoint is restored: the variables start from their initial values. */
  public boolean startsFresh() {
    return resumeFrom.isEmpty();
  }

  /** True if the run already reached its last step: {@link #fit} trains nothing. */
  public boolean complete() {
    return startStep >= config.steps();
  }

  /** The TensorFlow session options: threads, XLA, device, precision. */
  public SessionConfigs.Options sessionOptions() {
    return sessionOptions;
  }

  /** The training pipeline's options: the config's batch, seed and augmentation, from the start. */
  public PipelineOptions trainPipeline() {
    return PipelineOptions.train(config.batchSize(), config.seed())
        .withAugment(config.augment())
        .withSkipElements(startStep * config.batchSize());
  }

  /** The run's TensorBoard summaries, written every {@code --summary-every} steps. */
  public Summaries summaries(Ops tf) {
    return Summaries.create(tf, dir.tensorboard(), options.summaryEvery());
  }

  /**
   * {@link #fit(Session, Trainer.Graphs, Operand, Consumer, Trainer.Validation, Trainer.AtEnd)},
   * plain.
   */
  public MetricsWriter.Metrics fit(Session session, Trainer.Graphs graphs,
      Operand<TInt64> globalStep) {
    return fit(session, graphs, globalStep, null, null, Trainer.AtEnd.NONE);
  }

  /**
   * Fits the run: restores the checkpoint it resumes from (then {@code afterRestore}, e.g. to
   * copy it into the other replicas) and checks that {@code globalStep} holds the start step;
   * then trains the steps after it to the config's last, with {@code validation} (null: none),
   * and measures {@code atEnd} after the last step. A run that is already complete is not
   * trained (or measured) again: its metrics.json is read.
   *
   * @param afterRestore null for nothing
   * @return the run's metrics (as written to metrics.json)
   */
  public MetricsWriter.Metrics fit(Session session, Trainer.Graphs graphs,
      Operand<TInt64> globalStep, Consumer<Session> afterRestore,
      Trainer.Validation validation, Trainer.AtEnd atEnd) {
    if (resumeFrom.isPresent()) {
      CheckpointManager.restore(session, resumeFrom.get());
      if (afterRestore != null) {
        afterRestore.accept(session);
      }
      long restored;
      try (Result r = session.runner().fetch(globalStep).run()) {
        restored = ((TInt64) r.get(0)).getLong();
      }
      if (restored != startStep) {
        throw new IllegalStateException("checkpoint " + resumeFrom.get().dir()
            + " holds global_step " + restored + ", expected " + startStep);
      }
    }
    if (complete()) {
      LOG.info("run already complete (" + startStep + " steps)");
      return MetricsWriter.read(dir.metrics());
    }
    Trainer.Loop loop = new Trainer.Loop(task, config.seed(), config.batchSize(),
        options.checkpointEvery(), options.logEvery(),
        s -> new CheckpointManager.RunState(config.seed(), s * config.batchSize(), config),
        precision);
    if (precision != Precision.FLOAT32 && !atEnd.evaluations().isEmpty()) {
      // What the exported SavedModel (float32) computes, and what `selfie evaluate` reports.
      LOG.info(task + ": " + String.join(" and ", atEnd.evaluations().keySet())
          + " accuracy at the end measured in float32 (training runs in " + precision.flag()
          + "), as the SavedModel computes");
      atEnd = atEnd.measuredIn(
          SessionConfigs.configProto(sessionOptions.withPrecision(Precision.FLOAT32)));
    }
    return Trainer.train(session, graphs, loop, dir, checkpoints, startStep, config.steps(),
        sessionOptions.xla(), validation, atEnd);
  }
}
