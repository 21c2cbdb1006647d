package dev.selfie.training.loop;

import java.util.List;
import java.util.function.BooleanSupplier;

/**
 * The training loop shared by pretraining and finetuning: runs steps {@code startStep+1 ..
 * endStep}, stops on a non-finite loss or when asked to at a step boundary (Ctrl-C, SIGTERM: see
 * {@link GracefulStop}), and tells the listeners (progress, summaries, checkpoints, metrics).
 */
public final class TrainingLoop {
  private TrainingLoop() {}

  /** One training step: runs the session once and reports. */
  @FunctionalInterface
  public interface Step {
    /**
     * @param step the global step before this step (0 for the first step of a new run)
     * @return the result, with {@code result.step() == step + 1}
     */
    StepResult run(long step);
  }

  /** Reacts to the loop. Methods are called in the listeners' order. */
  public interface Listener {
    default void onStart(long startStep, long endStep) {}

    /** After every step with a finite loss. */
    default void onStep(StepResult result) {}

    /** After the last step when the run completed. */
    default void onEnd(StepResult last) {}

    /**
     * When the run was asked to stop before its end ({@link Stopped}), after the listeners saw
     * the last step run ({@code last}, null when no step ran): e.g. save a checkpoint of it.
     */
    default void onStop(StepResult last) {}

    /** Always, last (also after a failure): release resources, flush. */
    default void close() {}
  }

  /**
   * Thrown when the loop stopped at a step boundary because it was asked to (a signal): the
   * listeners' {@link Listener#onStop} ran (the checkpoint of {@link #step()} is saved).
   */
  public static final class Stopped extends RuntimeException {
    private final long step;

    public Stopped(long step) {
      super("training stopped at step " + step);
      this.step = step;
    }

    /** The global step at which the loop stopped (the last step run, or the start step). */
    public long step() {
      return step;
    }
  }

  /** Runs every step, never asked to stop. */
  public static StepResult run(long startStep, long endStep, Step step, List<Listener> listeners) {
    return run(startStep, endStep, step, listeners, () -> false);
  }

  /**
   * Runs steps until the global step reaches {@code endStep}, or until {@code stopRequested}
   * says so at a step boundary (checked before every step).
   *
   * @return the last step's result, or null when {@code startStep == endStep}
   * @throws NonFiniteLossException at the first NaN/Inf loss; listeners' {@code onStep} is not
   *     called for that step (so no checkpoint of it is saved)
   * @throws Stopped when asked to stop before the end, after the listeners' {@code onStop}
   */
  public static StepResult run(long startStep, long endStep, Step step, List<Listener> listeners,
      BooleanSupplier stopRequested) {
    if (startStep < 0 || endStep < startStep) {
      throw new IllegalArgumentException(
          "steps: need 0 <= start <= end, got start=" + startStep + " end=" + endStep);
    }
    StepResult last = null;
    try {
      listeners.forEach(l -> l.onStart(startStep, endStep));
      for (long s = startStep; s < endStep; s++) {
        if (stopRequested.getAsBoolean()) {
          StepResult at = last;
          listeners.forEach(l -> l.onStop(at));
          throw new Stopped(s);
        }
        StepResult r = step.run(s);
        if (!Double.isFinite(r.loss())) {
          throw new NonFiniteLossException(r.step(), r.loss());
        }
        listeners.forEach(l -> l.onStep(r));
        last = r;
      }
      if (last != null) {
        StepResult end = last;
        listeners.forEach(l -> l.onEnd(end));
      }
      return last;
    } finally {
      for (Listener l : listeners) {
        l.close();
      }
    }
  }
}
