package dev.selfie.training.loop;

import dev.selfie.data.ProgressListener;
import java.io.PrintWriter;

/**
 * Renders the progress of a download ({@code selfie data fetch}, and the automatic download of
 * Fashion-MNIST by the training commands): a progress bar on a terminal (when the application
 * provides {@link TerminalBars}), a line per 10% otherwise.
 */
public final class FetchProgress implements ProgressListener, AutoCloseable {
  private final PrintWriter out;
  private final boolean tty;
  private String task;
  private TerminalBars.Counter bar;
  private long lastTenth = -1;

  public FetchProgress(PrintWriter out, boolean tty) {
    this.out = out;
    this.tty = tty && TerminalBars.installed().isPresent();
  }

  @Override
  public void progress(String t, long done, long total) {
    if (!t.equals(task)) {
      close();
      task = t;
      lastTenth = -1;
      if (tty) {
        bar = TerminalBars.installed().orElseThrow().bytes(t, total < 0 ? -1 : total);
      }
    }
    if (bar != null) {
      bar.stepTo(done);
    } else if (total > 0) {
      long tenth = done * 10 / total;
      if (tenth != lastTenth) {
        lastTenth = tenth;
        out.printf("%s: %d%% (%.1f of %.1f MB)%n", t, tenth * 10, done / 1e6, total / 1e6);
        out.flush();
      }
    }
  }

  @Override
  public void note(String message) {
    close();
    task = null;
    out.println(message);
    out.flush();
  }

  @Override
  public void close() {
    if (bar != null) {
      bar.close();
      bar = null;
    }
  }
}
