package dev.selfie.training.run;

import dev.selfie.training.loop.GracefulStop;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Instant;

/**
 * A run's log: everything printed to it goes to the console stream it wraps and to the run's
 * {@code train.log} (appended to, so a resumed run continues the file; each process starts with a
 * {@code ==== <time> <command>} header line). The training commands print through it instead of
 * the console, so existing callers that pass a PrintStream (tests, experiment, quickstart) keep
 * working unchanged. {@link #fileOnly()} writes to the file alone: the progress lines go there
 * when the console shows a progress bar. {@link #close()} closes the file, never the console.
 *
 * <p>Not SLF4J: slf4j-simple writes to one stream chosen at start-up, not to a per-run file as
 * well as the console, and the project prints through PrintStreams everywhere; a tee keeps the
 * change contained and needs no dependency.
 */
public final class RunLog extends PrintStream {
  private final PrintStream file;

  private RunLog(PrintStream console, PrintStream file) {
    super(new Tee(console, file), true, StandardCharsets.UTF_8);
    this.file = file;
  }

  /** The file name of the log in a run directory. */
  public static final String FILE = "train.log";

  /**
   * Opens {@code dir/train.log} for appending, writes the header line, and returns the stream
   * that writes to both.
   */
  public static RunLog open(RunDir dir, PrintStream console) {
    Path path = dir.root().resolve(FILE);
    try {
      PrintStream file = new PrintStream(new FileOutputStream(path.toFile(), true), true,
          StandardCharsets.UTF_8);
      String command = GracefulStop.command();
      file.println("==== " + Instant.now() + (command == null ? "" : " " + command));
      return new RunLog(console, file);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot open " + path + ": " + e.getMessage(), e);
    }
  }

  /** Writes to {@code train.log} only. */
  public PrintStream fileOnly() {
    return file;
  }

  /** Flushes both, closes the file (the console stays open). */
  @Override
  public void close() {
    flush();
    file.close();
  }

  private static final class Tee extends OutputStream {
    private final PrintStream a;
    private final PrintStream b;

    Tee(PrintStream a, PrintStream b) {
      this.a = a;
      this.b = b;
    }

    @Override
    public void write(int x) {
      a.write(x);
      b.write(x);
    }

    @Override
    public void write(byte[] bytes, int off, int len) {
      a.write(bytes, off, len);
      b.write(bytes, off, len);
    }

    @Override
    public void flush() {
      a.flush();
      b.flush();
    }

    @Override
    public void close() {
      flush();
    }
  }
}
