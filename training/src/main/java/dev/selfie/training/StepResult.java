package dev.selfie.training;

import java.util.Map;

/**
 * What one training step produced.
 *
 * @param step the global step after this step (number of updates applied, 1 after the first)
 * @param loss the step's loss (before its update)
 * @param metrics other scalars of the step by name (e.g. "accuracy", "lr")
 * @param imagesPerSecond throughput of this step
 */
public record StepResult(long step, double loss, Map<String, Double> metrics,
    double imagesPerSecond) {
  public StepResult {
    metrics = Map.copyOf(metrics);
  }
}
