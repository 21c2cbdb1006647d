package dev.selfie.training;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.AppenderBase;
import dev.selfie.training.run.Logs;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.LoggerFactory;

/**
 * What the jobs log while it is open (every logger, every thread), for tests that assert on the
 * messages: {@link #console()} is what the console showed (events marked {@link Logs#FILE_ONLY}
 * left out), {@link #all()} includes those.
 */
public final class LogCapture implements AutoCloseable {
  private final List<ILoggingEvent> events = new ArrayList<>();
  private final AppenderBase<ILoggingEvent> appender;
  private final Logger root;

  public LogCapture() {
    LoggerContext ctx = (LoggerContext) LoggerFactory.getILoggerFactory();
    root = ctx.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
    appender = new AppenderBase<>() {
      @Override
      protected void append(ILoggingEvent e) {
        synchronized (events) {
          events.add(e);
        }
      }
    };
    appender.setContext(ctx);
    appender.start();
    root.addAppender(appender);
  }

  /** The console's lines so far, each followed by a newline. */
  public String console() {
    return text(false);
  }

  /** Every logged line so far, the file-only ones too. */
  public String all() {
    return text(true);
  }

  /** {@link #console()}, then {@link #close()}. */
  public String consoleAndClose() {
    String text = console();
    close();
    return text;
  }

  private String text(boolean fileOnly) {
    StringBuilder sb = new StringBuilder();
    synchronized (events) {
      for (ILoggingEvent e : events) {
        boolean hidden = e.getMarkerList() != null
            && e.getMarkerList().stream().anyMatch(m -> m.contains(Logs.FILE_ONLY));
        if (fileOnly || !hidden) {
          sb.append(e.getFormattedMessage()).append('\n');
        }
      }
    }
    return sb.toString();
  }

  @Override
  public void close() {
    root.detachAppender(appender);
    appender.stop();
  }
}
