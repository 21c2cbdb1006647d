package dev.selfie.training.loop;

import java.util.Optional;
import java.util.ServiceLoader;

/**
 * Progress bars on a terminal. The library draws none itself: the application provides them
 * through {@link ServiceLoader} (the {@code selfie} command line registers one built on
 * me.tongfei:progressbar), so a Java user who depends on the training library does not inherit
 * a terminal library; without a provider, progress is plain log lines ({@link Progress.LogLines},
 * or {@link FetchProgress}'s line per 10%).
 */
public interface TerminalBars {

  /** A bar over a run's steps, from {@code startStep} (0 for a new run) to {@code endStep}. */
  Progress steps(String task, long startStep, long endStep);

  /** A bar over a download of {@code total} bytes ({@code -1}: size unknown). */
  Counter bytes(String task, long total);

  /** A bar that counts up to a total. */
  interface Counter extends AutoCloseable {
    void stepTo(long done);

    @Override
    void close();
  }

  /** The provider on the class path, if any (the first {@link ServiceLoader} finds). */
  static Optional<TerminalBars> installed() {
    return ServiceLoader.load(TerminalBars.class, TerminalBars.class.getClassLoader()).findFirst();
  }
}
