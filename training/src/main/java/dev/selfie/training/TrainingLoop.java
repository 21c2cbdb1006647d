package dev.selfie.training;

import java.util.List;

/**
 * The training loop shared by pretraining and finetuning: runs steps {@code startStep+1 ..
 * endStep}, stops on a non-finite loss, and tells the listeners (progress, summaries,
 * checkpoints, metrics).
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

    /** Always, last (also after a failure): release resources, flush. */
    default void close() {}
  }

  /**
   * Runs steps until the global step reaches {@code endStep}.
   *
   * @return the last step's result, or null when {@code startStep == endStep}
   * @throws NonFiniteLossException at the first NaN/Inf loss; listeners' {@code onStep} is not
   *     called for that step (so no checkpoint of it is saved)
   */
  public static StepResult run(long startStep, long endStep, Step step, List<Listener> listeners) {
    if (startStep < 0 || endStep < startStep) {
      throw new IllegalArgumentException(
          "steps: need 0 <= start <= end, got start=" + startStep + " end=" + endStep);
    }
    StepResult last = null;
    try {
      listeners.forEach(l -> l.onStart(startStep, endStep));
      for (long s = startStep; s < endStep; s++) {
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
