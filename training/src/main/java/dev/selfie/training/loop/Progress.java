package dev.selfie.training.loop;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.function.Consumer;
import org.slf4j.LoggerFactory;

/**
 * Reports training progress: a terminal progress bar on an interactive terminal when the
 * application provides one ({@link TerminalBars}), plain log lines every N steps otherwise
 * (pipes, files, CI, a library user's program). Choose with {@link #create}.
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
   * A progress bar when {@link #showsBar} says so, else {@link LogLines} every {@code logEvery}
   * steps, logged (SLF4J, logger {@code Progress}).
   *
   * @param startStep the step the run resumes from (0 for a new run)
   * @param endStep the last step of the run
   */
  static Progress create(String task, long startStep, long endStep, int logEvery) {
    return showsBar()
        ? TerminalBars.installed().orElseThrow().steps(task, startStep, endStep)
        : new LogLines(task, startStep, endStep, logEvery,
            LoggerFactory.getLogger(Progress.class)::info);
  }

  /**
   * Whether {@link #create} draws a bar: on an {@link #interactive} terminal, when an
   * application put {@link TerminalBars} on the class path.
   */
  static boolean showsBar() {
    return interactive(System.console() != null, System.getenv("CI"))
        && TerminalBars.installed().isPresent();
  }

  /** Interactive when a console is attached and {@code CI} is unset (or empty/"false"). */
  static boolean interactive(boolean hasConsole, String ciEnv) {
    boolean ci = ciEnv != null && !ciEnv.isBlank() && !ciEnv.equalsIgnoreCase("false");
    return hasConsole && !ci;
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
