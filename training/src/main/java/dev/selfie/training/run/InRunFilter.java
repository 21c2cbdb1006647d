package dev.selfie.training.run;

import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.filter.Filter;
import ch.qos.logback.core.spi.FilterReply;

/**
 * Logback filter of the appender that writes {@code train.log}: only events logged inside a run
 * ({@link Logs#openRun}: the MDC has {@link Logs#RUN}) pass. Loaded by Logback from the
 * application's {@code logback.xml}; the library itself never touches Logback (an optional
 * dependency, present where Logback is the backend).
 */
public final class InRunFilter extends Filter<ILoggingEvent> {
  @Override
  public FilterReply decide(ILoggingEvent event) {
    String run = event.getMDCPropertyMap().get(Logs.RUN);
    return run == null || run.isEmpty() ? FilterReply.DENY : FilterReply.NEUTRAL;
  }
}
