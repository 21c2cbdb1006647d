package dev.selfie.training;

import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Function;
import java.util.function.LongFunction;
import org.tensorflow.Session;

/** The standard {@link TrainingLoop.Listener}s. */
public final class Listeners {
  private Listeners() {}

  /** Reports each step to a {@link Progress}; closes it at the end. */
  public static TrainingLoop.Listener progress(Progress progress) {
    return new TrainingLoop.Listener() {
      @Override
      public void onStep(StepResult r) {
        progress.update(r.step(), r.loss(), r.imagesPerSecond());
      }

      @Override
      public void close() {
        progress.close();
      }
    };
  }

  /** A progress bar or log lines (see {@link Progress#create}) for the loop's step range. */
  public static TrainingLoop.Listener progress(String task, int logEvery, PrintStream out) {
    return new TrainingLoop.Listener() {
      Progress p;

      @Override
      public void onStart(long startStep, long endStep) {
        p = Progress.create(task, startStep, endStep, logEvery, out);
      }

      @Override
      public void onStep(StepResult r) {
        p.update(r.step(), r.loss(), r.imagesPerSecond());
      }

      @Override
      public void close() {
        if (p != null) {
          p.close();
        }
      }
    };
  }

  /**
   * Writes the Java-side summaries ({@link Summaries#fedScalar}) when due and flushes at the end.
   * The graph scalars are written by the step itself ({@link Summaries#addTo}).
   *
   * @param fedValues the fed values of a step, keyed by tag (e.g. images_per_second)
   */
  public static TrainingLoop.Listener summaries(
      Summaries summaries, Session session, Function<StepResult, Map<String, Double>> fedValues) {
    return new TrainingLoop.Listener() {
      @Override
      public void onStep(StepResult r) {
        if (summaries.due(r.step())) {
          summaries.writeFed(session, r.step(), fedValues.apply(r));
        }
        if (summaries.slowDue(r.step())) {
          summaries.writeHistograms(session, r.step());
        }
      }

      @Override
      public void close() {
        summaries.flush(session);
      }
    };
  }

  /** Saves a checkpoint every {@code every} steps and at the end of the run. */
  public static final class Checkpoints implements TrainingLoop.Listener {
    private final CheckpointManager manager;
    private final Session session;
    private final long every;
    private final LongFunction<CheckpointManager.RunState> state;
    private CheckpointManager.Checkpoint lastSaved;

    /**
     * @param every save when the step is a multiple of this (&gt;= 1)
     * @param state the run state to store, given the step (seed, data position, config)
     */
    public Checkpoints(CheckpointManager manager, Session session, long every,
        LongFunction<CheckpointManager.RunState> state) {
      if (every < 1) {
        throw new IllegalArgumentException("checkpoint interval must be >= 1 step, got " + every);
      }
      this.manager = manager;
      this.session = session;
      this.every = every;
      this.state = state;
    }

    @Override
    public void onStep(StepResult r) {
      if (r.step() % every == 0) {
        lastSaved = manager.save(session, r.step(), state.apply(r.step()));
      }
    }

    @Override
    public void onEnd(StepResult last) {
      if (lastSaved == null || lastSaved.step() != last.step()) {
        lastSaved = manager.save(session, last.step(), state.apply(last.step()));
      }
    }

    /** The last checkpoint saved by this listener, or null. */
    public CheckpointManager.Checkpoint lastSaved() {
      return lastSaved;
    }
  }

  /**
   * Collects loss, metrics, wall time and throughput; writes {@code metrics.json} at the end of a
   * completed run (see {@link MetricsWriter.Metrics}).
   */
  public static final class Metrics implements TrainingLoop.Listener {
    private final Path file;
    private final int window;
    private final Deque<StepResult> recent = new ArrayDeque<>();
    private long startNanos;
    private long stepsRun;
    private double imagesPerSecondSum;
    private long rateCount;
    private double firstRate = Double.NaN;
    private MetricsWriter.Metrics result;
    private final String precision;

    /**
     * @param file where to write (the run's {@code metrics.json})
     * @param window how many final steps to average loss and metrics over (&gt;= 1)
     */
    public Metrics(Path file, int window) {
      this(file, window, null);
    }

    /** Records {@code precision} (the flag spelling) in the metrics. */
    public Metrics(Path file, int window, String precision) {
      this.precision = precision;
      if (window < 1) {
        throw new IllegalArgumentException("metrics window must be >= 1 step, got " + window);
      }
      this.file = file;
      this.window = window;
    }

    @Override
    public void onStart(long startStep, long endStep) {
      startNanos = System.nanoTime();
    }

    @Override
    public void onStep(StepResult r) {
      recent.addLast(r);
      if (recent.size() > window) {
        recent.removeFirst();
      }
      if (stepsRun++ == 0) {
        firstRate = r.imagesPerSecond();
      } else {
        imagesPerSecondSum += r.imagesPerSecond();
        rateCount++;
      }
    }

    @Override
    public void onEnd(StepResult last) {
      double meanLoss = recent.stream().mapToDouble(StepResult::loss).average().orElse(Double.NaN);
      Map<String, Double> means = new LinkedHashMap<>();
      for (String k : last.metrics().keySet()) {
        means.put(k, recent.stream().filter(r -> r.metrics().containsKey(k))
            .mapToDouble(r -> r.metrics().get(k)).average().orElse(Double.NaN));
      }
      double rate = rateCount > 0 ? imagesPerSecondSum / rateCount : firstRate;
      result = new MetricsWriter.Metrics(last.step(), stepsRun, last.loss(), meanLoss, means,
          recent.size(), (System.nanoTime() - startNanos) / 1e9, rate, Instant.now().toString(),
          precision);
      MetricsWriter.write(file, result);
    }

    /** The metrics written at the end, or null before. */
    public MetricsWriter.Metrics result() {
      return result;
    }
  }
}
