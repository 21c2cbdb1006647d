package dev.selfie.training.loop;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.function.Consumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import org.slf4j.LoggerFactory;

/**
 * Reports training progress: a terminal progress bar on an interactive terminal, plain log lines
 * every N steps otherwise (pipes, files, CI). Choose with {@link #create}.
 */
public interface Progress extends AutoCloseable {

  /** Called after each completed step (steps counted from the run's start, 1-based). */
  void update(long step, double loss, double imagesPerSecond);

  /**
   * Called before {@link #update} at a step after which a held-out evaluation ran
   * ({@code --eval-every}): the values are shown from that step's report on.
   */
  default void evaluated(long step, Map<String, Double> values) {}

  /**
   * The evaluations as shown in a progress line: {@code " val acc 83.20%"} for
   * validation_accuracy, {@code " name 0.1234"} for anything else; "" when empty.
   */
  static String describe(Map<String, Double> values) {
    StringBuilder sb = new StringBuilder();
    values.forEach((k, v) -> sb.append(k.equals("validation_accuracy")
        ? String.format(Locale.ROOT, " val acc %.2f%%", 100 * v)
        : String.format(Locale.ROOT, " %s %.4f", k, v)));
    return sb.toString();
  }

  /** Finishes the bar or writes a final line. */
  @Override
  void close();

  /**
   * A progress bar when {@link #interactive} says so, else {@link LogLines} every
   * {@code logEvery} steps, logged (SLF4J, logger {@code Progress}).
   *
   * @param startStep the step the run resumes from (0 for a new run)
   * @param endStep the last step of the run
   */
  static Progress create(String task, long startStep, long endStep, int logEvery) {
    return interactive(System.console() != null, System.getenv("CI"))
        ? new Bar(task, startStep, endStep)
        : new LogLines(task, startStep, endStep, logEvery,
            LoggerFactory.getLogger(Progress.class)::info);
  }

  /** Interactive when a console is attached and {@code CI} is unset (or empty/"false"). */
  static boolean interactive(boolean hasConsole, String ciEnv) {
    boolean ci = ciEnv != null && !ciEnv.isBlank() && !ciEnv.equalsIgnoreCase("false");
    return hasConsole && !ci;
  }

  /** The terminal bar (me.tongfei:progressbar): steps, rate, ETA; loss and images/s as a suffix. */
  final class Bar implements Progress {
    private final ProgressBar bar;
    private String evaluations = "";

    public Bar(String task, long startStep, long endStep) {
      bar = new ProgressBarBuilder()
          .setTaskName(task)
          .setInitialMax(endStep)
          .startsFrom(startStep, Duration.ZERO)
          .setStyle(ProgressBarStyle.ASCII)
          .setUpdateIntervalMillis(500)
          .showSpeed()
          .build();
    }

    @Override
    public void update(long step, double loss, double imagesPerSecond) {
      bar.stepTo(step);
      bar.setExtraMessage(String.format(Locale.ROOT, " loss %.4f %.0f img/s", loss,
          imagesPerSecond) + evaluations);
    }

    @Override
    public void evaluated(long step, Map<String, Double> values) {
      evaluations = Progress.describe(values);
    }

    @Override
    public void close() {
      bar.close();
    }
  }

  /**
   * Plain lines: {@code task step 120/1000 (12.0%) loss 1.2345 850 img/s eta 0:03:21}, every N
   * steps, at the end, and at every evaluated step; after the first evaluation each line shows
   * the latest one before the eta ({@code ... 850 img/s val acc 83.20% eta ...}).
   */
  final class LogLines implements Progress {
    private final String task;
    private final long startStep;
    private final long endStep;
    private final int every;
    private final Consumer<String> out;
    private final long startNanos = System.nanoTime();
    private long lastStep = -1;
    private double lastLoss = Double.NaN;
    private double lastRate = Double.NaN;
    private long lastPrinted = -1;
    private final Map<String, Double> evaluations = new LinkedHashMap<>();
    private long evaluatedStep = -1;

    /** @param out where each line goes (a logger's info) */
    public LogLines(String task, long startStep, long endStep, int every, Consumer<String> out) {
      if (every < 1) {
        throw new IllegalArgumentException("log interval must be >= 1 step, got " + every);
      }
      this.task = task;
      this.startStep = startStep;
      this.endStep = endStep;
      this.every = every;
      this.out = out;
    }

    @Override
    public void update(long step, double loss, double imagesPerSecond) {
      lastStep = step;
      lastLoss = loss;
      lastRate = imagesPerSecond;
      if (step % every == 0 || step == endStep || step == evaluatedStep) {
        print();
      }
    }

    @Override
    public void evaluated(long step, Map<String, Double> values) {
      evaluations.putAll(values);
      evaluatedStep = step;
    }

    private void print() {
      if (lastStep < 0 || lastStep == lastPrinted) {
        return;
      }
      lastPrinted = lastStep;
      double elapsed = (System.nanoTime() - startNanos) / 1e9;
      long done = lastStep - startStep;
      String eta = done > 0 ? formatDuration(elapsed / done * (endStep - lastStep)) : "?";
      out.accept(String.format(Locale.ROOT, "%s step %d/%d (%.1f%%) loss %.4f %.0f img/s%s eta %s",
          task, lastStep, endStep, 100.0 * lastStep / Math.max(1, endStep), lastLoss, lastRate,
          Progress.describe(evaluations), eta));
    }

    @Override
    public void close() {
      print();
    }

    public static String formatDuration(double seconds) {
      long s = Math.round(seconds);
      return String.format(Locale.ROOT, "%d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60);
    }
  }
}
