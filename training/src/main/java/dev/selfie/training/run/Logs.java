package dev.selfie.training.run;

import java.time.Instant;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.MDC;
import org.slf4j.Marker;
import org.slf4j.MarkerFactory;

/**
 * How the jobs log. Everything they print goes through SLF4J ({@code
 * LoggerFactory.getLogger(Job.class)}); no stream is passed around. A run directory's {@code
 * train.log} gets everything logged while the run is open: {@link #openRun} puts the directory
 * into the SLF4J MDC under {@link #RUN}, and the backend routes those events to {@code
 * <run>/train.log} as well as to the console. The command line's backend is Logback, configured by
 * {@code logback.xml} in the cli module (a sifting appender keyed by {@link #RUN}); a Java user of
 * the library gets the messages in their own backend, and {@code train.log} only if they route the
 * {@link #RUN} key the same way.
 *
 * <p>Two markers steer the console: {@link #FILE_ONLY} lines go to {@code train.log} only (the
 * run's header line; the progress lines while the console draws a progress bar instead), and the
 * run's last event carries {@link #END_OF_RUN}, which closes its file.
 */
public final class Logs {
  private Logs() {}

  /** The MDC key whose value is the directory of the run being logged to. */
  public static final String RUN = "run";

  /** Events for the run's {@code train.log}, not the console. */
  public static final Marker FILE_ONLY = MarkerFactory.getMarker("FILE_ONLY");

  /**
   * Logback's marker that ends a sifted appender's life (its {@code
   * ClassicConstants.FINALIZE_SESSION_MARKER}: markers are equal by name), so a run's file is
   * closed when the run is.
   */
  static final Marker FINALIZE_SESSION = MarkerFactory.getMarker("FINALIZE_SESSION");

  /** The run's last event: file only, and closes the file. */
  public static final Marker END_OF_RUN = endOfRun();

  private static Marker endOfRun() {
    Marker m = MarkerFactory.getDetachedMarker("END_OF_RUN");
    m.add(FILE_ONLY);
    m.add(FINALIZE_SESSION);
    return m;
  }

  private static final Logger LOG = LoggerFactory.getLogger(Logs.class);

  /** A run's logging scope on this thread; {@link #close} ends it. */
  public static final class RunScope implements AutoCloseable {
    private final String previous;

    private RunScope(String previous) {
      this.previous = previous;
    }

    /** Ends the run's events (the file is closed) and restores the enclosing run, if any. */
    @Override
    public void close() {
      LOG.info(END_OF_RUN, "---- {} end", Instant.now());
      if (previous == null) {
        MDC.remove(RUN);
      } else {
        MDC.put(RUN, previous);
      }
    }
  }

  /**
   * Logs this thread's events into {@code dir/train.log} too (appended, so a resumed run continues
   * the file), starting with a {@code ==== <time> <command>} header line, until the scope is
   * closed (a {@code ---- <time> end} line). Nested scopes (a quickstart's runs) route to the
   * innermost run.
   *
   * @param command the command line that started the process, or null
   */
  public static RunScope openRun(RunDir dir, String command) {
    String run = dir.root().toAbsolutePath().normalize().toString();
    String previous = MDC.get(RUN);
    MDC.put(RUN, run);
    LOG.info(FILE_ONLY, "==== {}{}", Instant.now(), command == null ? "" : " " + command);
    return new RunScope(previous);
  }

  /** This thread's logging context, for a thread that logs on its behalf ({@link #adopt}). */
  public static Map<String, String> context() {
    return MDC.getCopyOfContextMap();
  }

  /** Makes {@code context} (from {@link #context}) this thread's logging context. */
  public static void adopt(Map<String, String> context) {
    if (context == null) {
      MDC.clear();
    } else {
      MDC.setContextMap(context);
    }
  }
}
