package dev.selfie.training.loop;

import dev.selfie.training.jobs.Evaluation;
import dev.selfie.training.jobs.Export;
import dev.selfie.training.optim.Optimizers;
import dev.selfie.training.run.CheckpointManager;
import dev.selfie.training.run.Logs;
import dev.selfie.training.run.MetricsWriter;
import dev.selfie.training.run.RunDir;
import dev.selfie.training.run.RunLock;
import dev.selfie.training.runtime.Precision;
import dev.selfie.training.runtime.Xla;
import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.proto.ConfigProto;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt64;

/**
 * The training session shared by pretraining and finetuning: they differ only in the graph
 * (loss, metrics, trainable variables), which they hand over here as a {@link Graphs} record
 * ({@link RunSession#fit} calls it).
 * One step feeds the random seed {@code [runSeed, step]} (masking, dropout), runs the train op
 * and fetches the loss and the named scalar metrics; progress, summaries, checkpoints and
 * metrics.json are listeners of {@link TrainingLoop}.
 */
public final class Trainer {
  private static final Logger LOG = LoggerFactory.getLogger(Trainer.class);

  private Trainer() {}

  /**
   * The training graph's handles.
   *
   * @param seed int64 [2] placeholder fed with {@code [runSeed, step]} each step
   * @param metrics scalar metrics fetched each step, by name (e.g. accuracy, learning_rate)
   */
  public record Graphs(
      Placeholder<TInt64> seed,
      Optimizers.TrainOp train,
      Operand<TFloat32> loss,
      Map<String, Operand<TFloat32>> metrics,
      Summaries summaries) {}

  /**
   * How the loop runs.
   *
   * @param task name shown in progress lines
   * @param runSeed the run's seed (first half of the step seed)
   * @param batchSize images per step (for images/s)
   * @param checkpointEvery save every this many steps (and at the end)
   * @param logEvery plain progress line every this many steps (no TTY)
   * @param state the run state stored with each checkpoint
   * @param precision the session's precision, recorded in metrics.json
   */
  public record Loop(
      String task,
      long runSeed,
      int batchSize,
      long checkpointEvery,
      int logEvery,
      java.util.function.LongFunction<CheckpointManager.RunState> state,
      Precision precision) {}

  /**
   * A held-out evaluation run during training ({@code --eval-every}): after every step that is a
   * multiple of {@code every}, one pass of {@code evaluation} (its own non-repeating pipeline and
   * inference-mode graph; the training iterator and the step seeds are not touched, so the
   * training trajectory is the same with or without it). Its accuracy is reported as
   * {@code name} in the progress line, TensorBoard (a {@link Summaries#fedScalar} of that tag)
   * and {@code metrics.jsonl}.
   */
  public record Validation(String name, long every, Evaluation evaluation) {
    public Validation {
      if (every < 1) {
        throw new IllegalArgumentException("--eval-every must be >= 1 here, got " + every);
      }
    }
  }

  /**
   * What a run measures once, after its last step and before metrics.json is written, so that
   * the file is written once and holds them: each evaluation's accuracy and example count as
   * {@code <name>_accuracy} and {@code <name>_examples}, in the map's order, then {@code facts}
   * (e.g. {@code labeled_examples}) as they are. TensorBoard gets the accuracies and the run's
   * images_per_second at the last step. A run that was already complete is not measured again:
   * its metrics.json holds them.
   *
   * @param measuredIn null: the evaluations run in the training session; else they run in a
   *     session of their own on the same graph with this config, holding the run's last
   *     checkpoint (a mixed-precision run is measured in float32, as its SavedModel computes)
   */
  public record AtEnd(Map<String, Evaluation> evaluations, Map<String, Double> facts,
      ConfigProto measuredIn) {
    /** Nothing at the end (pretraining: its metrics are the training steps'). */
    public static final AtEnd NONE = new AtEnd(Map.of(), Map.of());

    /** Measured in the training session. */
    public AtEnd(Map<String, Evaluation> evaluations, Map<String, Double> facts) {
      this(evaluations, facts, null);
    }

    /** These measures, taken in a session of their own with {@code config}. */
    public AtEnd measuredIn(ConfigProto config) {
      return new AtEnd(evaluations, facts, config);
    }

    /**
     * One pass of each evaluation, in {@code training} or (with {@link #measuredIn}) in a
     * session of its own restored from {@code last}: the metrics they add.
     */
    Map<String, Double> measure(Session training, CheckpointManager.Checkpoint last) {
      if (measuredIn == null || evaluations.isEmpty()) {
        return measureIn(training);
      }
      try (Session own = new Session(training.graph(), measuredIn)) {
        // Restore only: initialize() would also run the graph's other initializers (the
        // summary writer's would open a second events file). Every model variable is in the
        // checkpoint; each evaluation re-makes its own iterator.
        own.restore(last.prefix());
        return measureIn(own);
      }
    }

    private Map<String, Double> measureIn(Session session) {
      Map<String, Double> m = new LinkedHashMap<>();
      evaluations.forEach((name, e) -> {
        Evaluation.Accuracy a = e.run(session);
        m.put(name + "_accuracy", a.value());
        m.put(name + "_examples", (double) a.total());
      });
      m.putAll(facts);
      return m;
    }
  }

  /** The listener {@link #observed} adds to every loop this thread runs inside it; else null. */
  private static final ThreadLocal<TrainingLoop.Listener> OBSERVER = new ThreadLocal<>();

  /** What {@link #observed} runs: a job that may throw. */
  public interface Observed<R> {
    R run() throws IOException;
  }

  /**
   * Runs {@code body} with {@code observer} added to the listeners of every training loop this
   * thread runs inside it (after the progress, summary, history and checkpoint listeners; it is
   * not closed by the loop). For library callers that want per-step progress without a console:
   * it observes, it never changes the training.
   */
  public static <R> R observed(TrainingLoop.Listener observer, Observed<R> body)
      throws IOException {
    TrainingLoop.Listener outer = OBSERVER.get();
    OBSERVER.set(observer);
    try {
      return body.run();
    } finally {
      if (outer == null) {
        OBSERVER.remove();
      } else {
        OBSERVER.set(outer);
      }
    }
  }

  /**
   * Runs steps {@code startStep+1 .. endStep} with an optional held-out evaluation every N
   * steps; returns the metrics written to metrics.json. Ctrl-C or SIGTERM ({@link GracefulStop})
   * stops the loop at the next step boundary: the checkpoint of the last step run is saved, the
   * resume command printed, and {@link TrainingLoop.Stopped} thrown.
   *
   * @param validation null for none
   * @param atEnd what to measure after the last step, into metrics.json ({@link AtEnd#NONE})
   */
  public static MetricsWriter.Metrics train(
      Session session,
      Graphs g,
      Loop loop,
      RunDir dir,
      CheckpointManager checkpoints,
      long startStep,
      long endStep,
      boolean traceXla,
      Validation validation,
      AtEnd atEnd) {
    try (GracefulStop stop = GracefulStop.install()) {
      return train(session, g, loop, dir, checkpoints, startStep, endStep, traceXla, validation,
          atEnd, stop);
    }
  }

  /** {@link #train} stopping when {@code stop} is requested (tests: {@link GracefulStop#manual}). */
  static MetricsWriter.Metrics train(
      Session session,
      Graphs g,
      Loop loop,
      RunDir dir,
      CheckpointManager checkpoints,
      long startStep,
      long endStep,
      boolean traceXla,
      Validation validation,
      AtEnd atEnd,
      GracefulStop stop) {
    TrainingLoop.Step step = new TrainingLoop.Step() {
      boolean first = traceXla;

      @Override
      public StepResult run(long before) {
        long t0 = System.nanoTime();
        long after = before + 1;
        Map<String, Double> values = new LinkedHashMap<>();
        double loss;
        try (TInt64 seed = TInt64.vectorOf(loop.runSeed(), before);
            TInt64 stepT = TInt64.scalarOf(after)) {
          Session.Runner r = session.runner()
              .feed(g.seed(), seed)
              .addTarget(g.train().trainOp())
              .fetch(g.loss());
          List<String> names = new ArrayList<>(g.metrics().keySet());
          for (String n : names) {
            r.fetch(g.metrics().get(n));
          }
          if (g.summaries() != null && g.summaries().due(after)) {
            g.summaries().addTo(r, stepT, after);
          }
          if (first) {
            r.setOptions(Xla.traceOptions());
          }
          try (Result res = first ? r.runAndFetchMetadata() : r.run()) {
            loss = ((TFloat32) res.get(0)).getFloat();
            for (int i = 0; i < names.size(); i++) {
              values.put(names.get(i), (double) ((TFloat32) res.get(i + 1)).getFloat());
            }
            if (first) {
              List<String> clusters = Xla.clusters(res.getMetadata().orElseThrow());
              LOG.info(clusters.isEmpty()
                  ? "XLA: no cluster was compiled in the first step (ops ran without XLA)"
                  : "XLA: compiled " + clusters.size() + " cluster(s) in the first step");
              first = false;
            }
          }
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        Map<String, Double> evaluation = Map.of();
        if (validation != null && after % validation.every() == 0) {
          evaluation = Map.of(validation.name(), validation.evaluation().run(session).value());
        }
        return new StepResult(after, loss, values, loop.batchSize() / seconds, evaluation);
      }
    };
    List<TrainingLoop.Listener> listeners = new ArrayList<>();
    listeners.add(Listeners.progress(loop.task(), loop.logEvery()));
    if (Progress.showsBar()) {
      // The console shows a bar: train.log gets the plain lines.
      listeners.add(Listeners.logLines(loop.task(), loop.logEvery(),
          line -> LOG.info(Logs.FILE_ONLY, line)));
    }
    if (g.summaries() != null) {
      listeners.add(Listeners.summaries(g.summaries(), session,
          r -> Map.of("images_per_second", r.imagesPerSecond())));
      if (validation != null) {
        listeners.add(new TrainingLoop.Listener() {
          @Override
          public void onStep(StepResult r) {
            if (!r.evaluation().isEmpty()) {
              g.summaries().writeFed(session, r.step(), r.evaluation());
            }
          }
        });
      }
    }
    // The history line of a step is written before its checkpoint: a run killed in between
    // has it, and a resume from that checkpoint keeps it (lines after it are dropped).
    listeners.add(new Listeners.History(dir.metricsHistory(), loop.logEvery()));
    Listeners.Checkpoints saver = new Listeners.Checkpoints(checkpoints, session,
        loop.checkpointEvery(), loop.state());
    listeners.add(saver);
    Listeners.Metrics metrics = new Listeners.Metrics(dir.metrics(), 20,
        loop.precision().flag(), () -> atEnd.measure(session, saver.lastSaved()));
    listeners.add(metrics);
    if (atEnd != AtEnd.NONE && g.summaries() != null) {
      listeners.add(new TrainingLoop.Listener() {  // the end's figures, at the last step
        @Override
        public void onEnd(StepResult last) {
          Map<String, Double> fed = new LinkedHashMap<>();
          fed.put("images_per_second", metrics.result().imagesPerSecond());
          for (String name : atEnd.evaluations().keySet()) {
            fed.put(name + "_accuracy", metrics.result().metrics().get(name + "_accuracy"));
          }
          g.summaries().writeFed(session, last.step(), fed);
          g.summaries().flush(session);
        }
      });
    }
    TrainingLoop.Listener observer = OBSERVER.get();
    if (observer != null) {
      listeners.add(new TrainingLoop.Listener() {  // forwards everything but close()
        @Override
        public void onStart(long startStep, long endStep) {
          observer.onStart(startStep, endStep);
        }

        @Override
        public void onStep(StepResult r) {
          observer.onStep(r);
        }

        @Override
        public void onEnd(StepResult last) {
          observer.onEnd(last);
        }

        @Override
        public void onStop(StepResult last) {
          observer.onStop(last);
        }
      });
    }
    try {
      TrainingLoop.run(startStep, endStep, step, listeners, stop::requested);
    } catch (TrainingLoop.Stopped stopped) {
      CheckpointManager.Checkpoint saved = saver.lastSaved();
      LOG.info(String.format("%s: stopped at step %d of %d; %s%nresume with:%n  %s", loop.task(),
          stopped.step(), endStep, saved != null
              ? "checkpoint saved: " + saved.dir()
              : "no step ran since the last checkpoint (step " + startStep + ")",
          GracefulStop.resumeCommand()));
      throw stopped;
    }
    return metrics.result();
  }

  /** A job's work inside its run directory. */
  @FunctionalInterface
  public interface RunBody<R> {
    R run() throws IOException;
  }

  /**
   * Runs {@code body} holding the run's lock ({@link RunLock}) with everything logged going to the
   * run's {@code train.log} too ({@link Logs#openRun}), exports the run as {@code savedmodel/1}
   * afterwards when {@code export}, and records a failure (other than a requested stop) in {@code
   * train.log}.
   */
  public static <R> R inRun(RunDir dir, String task, boolean export,
      RunBody<R> body) throws IOException {
    try (RunLock lock = RunLock.acquire(dir);
        Logs.RunScope scope = Logs.openRun(dir, GracefulStop.command())) {
      try {
        R r = body.run();
        if (export) {
          Export.run(dir.root(), 1);
        }
        return r;
      } catch (RuntimeException | IOException | Error e) {
        if (!(e instanceof TrainingLoop.Stopped)) {
          LOG.info(Logs.FILE_ONLY, task + ": failed: " + e);
        }
        throw e;
      }
    }
  }
}
