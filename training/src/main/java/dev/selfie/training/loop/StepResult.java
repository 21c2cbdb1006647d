package dev.selfie.training.loop;

import java.util.Map;

/**
 * What one training step produced.
 *
 * @param step the global step after this step (number of updates applied, 1 after the first)
 * @param loss the step's loss (before its update)
 * @param metrics other scalars of the step by name (e.g. "accuracy", "lr")
 * @param imagesPerSecond throughput of this step (training only, evaluation time excluded)
 * @param evaluation held-out evaluations run after this step, by name (e.g.
 *     "validation_accuracy", see {@code --eval-every}); empty at steps without one
 */
public record StepResult(long step, double loss, Map<String, Double> metrics,
    double imagesPerSecond, Map<String, Double> evaluation) {
  public StepResult {
    metrics = Map.copyOf(metrics);
    evaluation = evaluation == null ? Map.of() : Map.copyOf(evaluation);
  }

  /** A step without an evaluation. */
  public StepResult(long step, double loss, Map<String, Double> metrics, double imagesPerSecond) {
    this(step, loss, metrics, imagesPerSecond, Map.of());
  }
}
