package dev.selfie.cli.terminal;

import dev.selfie.training.loop.Progress;
import dev.selfie.training.loop.TerminalBars;
import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/**
 * The command line's terminal progress bars (me.tongfei:progressbar), registered for the
 * training library through {@code META-INF/services}: a run's steps with rate, ETA, loss and
 * images/s; a download in MB.
 */
public final class ProgressBars implements TerminalBars {

  @Override
  public Progress steps(String task, long startStep, long endStep) {
    return new Steps(task, startStep, endStep);
  }

  @Override
  public Counter bytes(String task, long total) {
    ProgressBar bar = new ProgressBarBuilder().setTaskName(task).setInitialMax(total)
        .setUnit(total < 0 ? "" : "MB", total < 0 ? 1 : 1 << 20).showSpeed().build();
    return new Counter() {
      @Override
      public void stepTo(long done) {
        bar.stepTo(done);
      }

      @Override
      public void close() {
        bar.close();
      }
    };
  }

  /** Steps, rate, ETA; loss, images/s and the latest evaluation as a suffix. */
  static final class Steps implements Progress {
    private final ProgressBar bar;
    private String evaluations = "";

    Steps(String task, long startStep, long endStep) {
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
}
