package dev.selfie.training.loop;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.selfie.training.run.CheckpointManager;
import dev.selfie.training.run.Json;
import dev.selfie.training.run.MetricsWriter;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiFunction;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.function.LongFunction;
import org.tensorflow.Session;

/** The standard {@link TrainingLoop.Listener}s. */
public final class Listeners {
  private Listeners() {}

  /** Reports each step to a {@link Progress}; closes it at the end. */
  public static TrainingLoop.Listener progress(Progress progress) {
    return progressOver((startStep, endStep) -> progress);
  }

  /** A progress bar or log lines (see {@link Progress#create}) for the loop's step range. */
  public static TrainingLoop.Listener progress(String task, int logEvery) {
    return progressOver((startStep, endStep) ->
        Progress.create(task, startStep, endStep, logEvery));
  }

  /** Plain progress lines ({@link Progress.LogLines}) for the loop's step range, always. */
  public static TrainingLoop.Listener logLines(String task, int logEvery, Consumer<String> out) {
    return progressOver((startStep, endStep) ->
        new Progress.LogLines(task, startStep, endStep, logEvery, out));
  }

  /** The {@link Progress} {@code open} gives for the loop's step range, fed every step. */
  private static TrainingLoop.Listener progressOver(BiFunction<Long, Long, Progress> open) {
    return new TrainingLoop.Listener() {
      Progress p;

      @Override
      public void onStart(long startStep, long endStep) {
        p = open.apply(startStep, endStep);
      }

      @Override
      public void onStep(StepResult r) {
        if (!r.evaluation().isEmpty()) {
          p.evaluated(r.step(), r.evaluation());
        }
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

    /** Stopped early (a signal): saves the last step run, so --resume continues from it. */
    @Override
    public void onStop(StepResult last) {
      if (last != null) {
        onEnd(last);
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
    private final java.util.function.Supplier<Map<String, Double>> atEnd;

    /**
     * @param file where to write (the run's {@code metrics.json})
     * @param window how many final steps to average loss and metrics over (&gt;= 1)
     */
    public Metrics(Path file, int window) {
      this(file, window, null, Map::of);
    }

    /**
     * Also records {@code precision} (the flag spelling) and what {@code atEnd} measures after
     * the last step (e.g. the test accuracy), after the steps' metrics: metrics.json is written
     * once, with them.
     */
    public Metrics(Path file, int window, String precision,
        java.util.function.Supplier<Map<String, Double>> atEnd) {
      this.precision = precision;
      this.atEnd = atEnd;
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
      double wallSeconds = (System.nanoTime() - startNanos) / 1e9;  // the steps' time only
      means.putAll(atEnd.get());
      double rate = rateCount > 0 ? imagesPerSecondSum / rateCount : firstRate;
      result = new MetricsWriter.Metrics(last.step(), stepsRun, last.loss(), meanLoss, means,
          recent.size(), wallSeconds, rate, Instant.now().toString(), precision);
      MetricsWriter.write(file, result);
    }

    /** The metrics written at the end, or null before. */
    public MetricsWriter.Metrics result() {
      return result;
    }
  }

  /**
   * The metrics history, {@code metrics.jsonl}: one JSON object per line for every logged step
   * (every {@code every} steps, the last step, every step with an evaluation, the step a stopped
   * run saved): {@code step}, {@code loss}, the step's metrics (e.g. {@code train_accuracy} or
   * {@code patch_accuracy}, {@code learning_rate}), {@code images_per_second}, the evaluations
   * run after the step (e.g. {@code validation_accuracy}) and {@code time} (ISO-8601 UTC). Each
   * line is flushed when written.
   *
   * <p>On resume the file is appended to: lines of steps after the restored step (written by a
   * run killed after its last checkpoint) are dropped first, and so is a partial last line, so
   * every step appears once and the history reads as the run's.
   */
  public static final class History implements TrainingLoop.Listener {
    private static final ObjectMapper LINES = new ObjectMapper();
    private final Path file;
    private final int every;
    private long endStep;
    private long lastWritten = -1;
    private BufferedWriter out;

    /**
     * @param file the run's {@code metrics.jsonl}
     * @param every write every this many steps (&gt;= 1)
     */
    public History(Path file, int every) {
      if (every < 1) {
        throw new IllegalArgumentException("history interval must be >= 1 step, got " + every);
      }
      this.file = file;
      this.every = every;
    }

    @Override
    public void onStart(long startStep, long endStep) {
      this.endStep = endStep;
      truncate(file, startStep);
      try {
        out = Files.newBufferedWriter(file, StandardCharsets.UTF_8, StandardOpenOption.CREATE,
            StandardOpenOption.APPEND, StandardOpenOption.WRITE);
      } catch (IOException e) {
        throw new UncheckedIOException("cannot open " + file + ": " + e.getMessage(), e);
      }
    }

    @Override
    public void onStep(StepResult r) {
      if (r.step() % every == 0 || r.step() == endStep || !r.evaluation().isEmpty()) {
        write(r);
      }
    }

    @Override
    public void onStop(StepResult last) {
      if (last != null && last.step() != lastWritten) {
        write(last);
      }
    }

    private void write(StepResult r) {
      Map<String, Object> line = new LinkedHashMap<>();
      line.put("step", r.step());
      line.put("loss", r.loss());
      line.putAll(r.metrics().entrySet().stream().sorted(Map.Entry.comparingByKey())
          .collect(LinkedHashMap::new, (m, e) -> m.put(e.getKey(), e.getValue()), Map::putAll));
      line.put("images_per_second", r.imagesPerSecond());
      line.putAll(r.evaluation());
      line.put("time", Instant.now().toString());
      try {
        out.write(LINES.writeValueAsString(line));
        out.write('\n');
        out.flush();
      } catch (IOException e) {
        throw new UncheckedIOException("cannot write " + file + ": " + e.getMessage(), e);
      }
      lastWritten = r.step();
    }

    @Override
    public void close() {
      if (out != null) {
        try {
          out.close();
        } catch (IOException e) {
          throw new UncheckedIOException("cannot close " + file + ": " + e.getMessage(), e);
        }
        out = null;
      }
    }

    /**
     * Keeps the lines of steps up to {@code step} (and drops unreadable ones, e.g. a line cut by
     * a crash), rewriting the file atomically when anything was dropped.
     */
    static void truncate(Path file, long step) {
      if (!Files.isRegularFile(file)) {
        return;
      }
      try {
        List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        List<String> kept = new ArrayList<>();
        for (String l : lines) {
          JsonNode n = parse(l);
          if (n != null && n.path("step").asLong(Long.MAX_VALUE) <= step) {
            kept.add(l);
          }
        }
        if (kept.size() != lines.size()) {
          StringBuilder sb = new StringBuilder();
          kept.forEach(l -> sb.append(l).append('\n'));
          Json.writeAtomic(file, sb.toString().getBytes(StandardCharsets.UTF_8));
        }
      } catch (IOException e) {
        throw new UncheckedIOException("cannot read " + file + ": " + e.getMessage(), e);
      }
    }

    /** Every line of a {@code metrics.jsonl}, in order. */
    public static List<JsonNode> read(Path file) {
      try {
        List<JsonNode> out = new ArrayList<>();
        for (String l : Files.readAllLines(file, StandardCharsets.UTF_8)) {
          out.add(LINES.readTree(l));
        }
        return out;
      } catch (IOException e) {
        throw new UncheckedIOException("cannot read " + file + ": " + e.getMessage(), e);
      }
    }

    private static JsonNode parse(String line) {
      try {
        JsonNode n = LINES.readTree(line);
        return n != null && n.isObject() && n.has("step") ? n : null;
      } catch (IOException e) {
        return null;
      }
    }
  }
}
