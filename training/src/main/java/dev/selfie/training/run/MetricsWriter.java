package dev.selfie.training.run;

import java.nio.file.Path;
import java.util.Map;

/** Writes a run's {@code metrics.json} atomically (temp file + rename). */
public final class MetricsWriter {
  private MetricsWriter() {}

  /**
   * Final metrics of a training run.
   *
   * @param steps global step at the end
   * @param stepsRun steps run by this process (fewer than {@code steps} after a resume)
   * @param finalLoss loss of the last step
   * @param meanLoss mean loss over the last {@code window} steps
   * @param metrics each step metric (e.g. accuracy) averaged over the last {@code window} steps
   * @param window number of steps averaged
   * @param wallSeconds wall time of the steps run by this process
   * @param imagesPerSecond mean throughput over the steps run, excluding the first (graph
   *     optimisation, XLA compilation) when more than one step ran
   * @param finishedAt ISO-8601 UTC time of writing
   * @param precision the precision of the steps run
   *     ({@link dev.selfie.training.runtime.Precision#flag}); null in metrics files from before
   *     the field (float32)
   */
  public record Metrics(
      long steps,
      long stepsRun,
      double finalLoss,
      double meanLoss,
      Map<String, Double> metrics,
      int window,
      double wallSeconds,
      double imagesPerSecond,
      String finishedAt,
      String precision) {
    /** Without a precision (null). */
    public Metrics(long steps, long stepsRun, double finalLoss, double meanLoss,
        Map<String, Double> metrics, int window, double wallSeconds, double imagesPerSecond,
        String finishedAt) {
      this(steps, stepsRun, finalLoss, meanLoss, metrics, window, wallSeconds, imagesPerSecond,
          finishedAt, null);
    }
  }

  /** Writes {@code metrics} to {@code file} atomically. */
  public static void write(Path file, Metrics metrics) {
    Json.writeAtomic(file, metrics);
  }

  /** Reads a metrics file back. */
  public static Metrics read(Path file) {
    return Json.read(file, Metrics.class);
  }
}
