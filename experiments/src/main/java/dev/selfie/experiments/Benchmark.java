package dev.selfie.experiments;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.selfie.data.Datasets;
import dev.selfie.data.ImageSource;
import dev.selfie.graph.FlopCounter;
import dev.selfie.graph.Selfie;
import dev.selfie.training.run.Json;
import dev.selfie.training.runtime.Precision;
import dev.selfie.training.runtime.Relauncher;
import dev.selfie.training.runtime.SessionConfigs;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code selfie benchmark}: how fast the Selfie pretraining step runs on this machine, in one
 * process.
 *
 * <ul>
 *   <li>CPU peak reference: a large float32 matmul [N, N] x [N, N] in TensorFlow (best of a few
 *       runs), 2 N^3 FLOPs each; achieved FLOP/s are reported as a fraction of it.
 *   <li>Pretraining step throughput (images/s) per preset and XLA on/off: the full training step
 *       (forward, {@code addGradients}, SGD-Nesterov with decoupled weight decay, BN updates) on a
 *       fixed batch of random images [B, S, S, C] fed through a placeholder, so the input pipeline
 *       is not in the measurement (the Python reference in {@code bench/} does the same).
 *       FLOPs per step = 3 x forward FLOPs per image ({@link FlopCounter}: conv/matmul MACs x 2;
 *       backward ~ 2 x forward) x B.
 *   <li>Input pipeline images/s (the training pipeline of a dataset: shuffle, augmentation, batch)
 *       vs the step's consumption.
 *   <li>Memory: RSS (from /proc/self/status) over a long run of steps of the first preset fed by
 *       the real pipeline: RSS after the warm-up, at the end, growth in percent, and peak RSS
 *       (VmHWM) of the process.
 * </ul>
 */
public final class Benchmark {
  private static final Logger LOG = LoggerFactory.getLogger(Benchmark.class);

  private Benchmark() {}

  /**
   * @param presets model presets to time (channels 3, 10 classes: the CIFAR-10 geometry)
   * @param steps measured steps per preset (same order as presets); one more warm-up step first
   * @param warmup warm-up steps (graph optimisation, XLA compilation) before timing
   * @param xla which XLA settings to time: any of false, true
   * @param matmulSize N of the CPU peak matmul (0 = skip)
   * @param pipelineDataset dataset of the pipeline and RSS runs (null = skip both)
   * @param pipelineSeconds how long to pull pipeline batches
   * @param rssSteps steps of the long RSS run (0 = skip)
   * @param threads intra-op threads (0 = TensorFlow's default: all cores)
   * @param profile after timing, trace one more step and keep the top {@code profile} op types by
   *     time (0 = no traced step)
   * @param precisions {@code --precision} values to time, each resolved on this machine
   *     ({@link Precision#resolve}); every preset and XLA setting runs once per precision
   */
  public record Options(
      List<String> presets,
      List<Long> steps,
      int warmup,
      List<Boolean> xla,
      int batchSize,
      int matmulSize,
      String pipelineDataset,
      Path dataDir,
      double pipelineSeconds,
      int rssSteps,
      int threads,
      int profile,
      String command,
      List<String> precisions) {
    /** float32 only. */
    public Options(List<String> presets, List<Long> steps, int warmup, List<Boolean> xla,
        int batchSize, int matmulSize, String pipelineDataset, Path dataDir,
        double pipelineSeconds, int rssSteps, int threads, int profile, String command) {
      this(presets, steps, warmup, xla, batchSize, matmulSize, pipelineDataset, dataDir,
          pipelineSeconds, rssSteps, threads, profile, command, List.of("float32"));
    }

    public Options {
      if (precisions == null || precisions.isEmpty()) {
        throw new IllegalArgumentException("--precision: give one or more of " + Precision.VALUES);
      }
      precisions = precisions.stream().map(Precision::checkFlag).distinct().toList();
      if (presets == null || presets.isEmpty() || steps == null
          || steps.size() != presets.size()) {
        throw new IllegalArgumentException("--presets and --steps must list the same number of"
            + " entries, got " + presets + " and " + steps);
      }
      for (long s : steps) {
        if (s < 1) {
          throw new IllegalArgumentException("--steps must be >= 1 each, got " + steps);
        }
      }
      if (warmup < 1 || batchSize < 1 || rssSteps < 0 || matmulSize < 0 || profile < 0) {
        throw new IllegalArgumentException("--warmup and --batch-size must be >= 1,"
            + " --rss-steps, --matmul-size and --profile >= 0");
      }
      if (xla == null || xla.isEmpty()) {
        throw new IllegalArgumentException("--xla-modes: give off, on or both");
      }
      presets = List.copyOf(presets);
      steps = List.copyOf(steps);
      xla = List.copyOf(xla);
    }
  }

  /** One timed configuration. */
  public record Row(
      String preset,
      boolean xla,
      String precision,
      @JsonProperty("batch_size") int batchSize,
      int steps,
      @JsonProperty("step_ms") double stepMs,
      @JsonProperty("java_images_per_s") double imagesPerSecond,
      @JsonProperty("flops_per_image_forward") long forwardFlopsPerImage,
      @JsonProperty("flops_per_step") double flopsPerStep,
      @JsonProperty("achieved_gflops") double achievedGflops,
      @JsonProperty("fraction_of_peak") double fractionOfPeak,
      @JsonProperty("xla_clusters") int xlaClusters,
      @JsonProperty("first_step_s") double firstStepSeconds,
      @JsonProperty("build_s") double buildSeconds,
      @JsonProperty("op_type_ms") Map<String, Double> opTypeMillis,
      @JsonProperty("op_ms_total") double opMillisTotal) {}

  /** The RSS run. */
  public record Memory(
      String preset,
      int steps,
      @JsonProperty("images_per_s_with_pipeline") double imagesPerSecond,
      @JsonProperty("rss_after_warmup_mb") double rssStartMb,
      @JsonProperty("rss_end_mb") double rssEndMb,
      @JsonProperty("rss_growth_percent") double growthPercent,
      @JsonProperty("rss_samples_mb") List<Double> samplesMb) {}

  /** Everything in the output JSON. */
  public record Report(
      String command,
      String machine,
      int threads,
      @JsonProperty("onednn") boolean onednn,
      @JsonProperty("cpu_flags") String cpuFlags,
      @JsonProperty("cpu_peak_gflops") double cpuPeakGflops,
      @JsonProperty("cpu_peak_bf16_gflops") double cpuPeakBf16Gflops,
      @JsonProperty("matmul_size") int matmulSize,
      List<Row> rows,
      @JsonProperty("pipeline_dataset") String pipelineDataset,
      @JsonProperty("pipeline_images_per_s") double pipelineImagesPerSecond,
      @JsonProperty("pipeline_over_step") double pipelineOverStep,
      Memory memory,
      @JsonProperty("rss_growth_percent") double rssGrowthPercent,
      @JsonProperty("peak_rss_mb") double peakRssMb,
      @JsonProperty("wall_seconds") double wallSeconds) {}

  public static Report run(Options o) throws IOException {
    long t0 = System.nanoTime();
    String flags = System.getenv(Relauncher.ENV);
    if (o.xla().contains(false) && flags != null && flags.contains("auto_jit")) {
      throw new IllegalStateException(Relauncher.ENV + "=\"" + flags + "\" is set: every session"
          + " of this process would be JIT-compiled, so the XLA-off timings would not be off."
          + " Unset it (XLA is switched per session by the benchmark itself).");
    }
    SessionConfigs.Options base = new SessionConfigs.Options(o.threads(), 0, false, false);
    int threads = SessionConfigs.effectiveIntraOpThreads(base);
    List<Precision> precisions = new ArrayList<>();
    for (String flag : o.precisions()) {
      Precision.Choice c = Precision.resolve(flag, false);
      LOG.info("precision: " + c.describe() + (flag.equals(c.precision().flag()) ? ""
          : " for --precision " + flag));
      if (!precisions.contains(c.precision())) {
        precisions.add(c.precision());
      }
    }
    String cpuFlags = String.join(" ", Measurements.cpuFlagsOfNote());
    LOG.info("CPU flags: " + cpuFlags);
    double peak = Double.NaN;
    double peakBf16 = Double.NaN;
    if (o.matmulSize() > 0) {
      peak = Measurements.matmulGflops(o.matmulSize(), o.threads(), 5, Precision.FLOAT32);
      LOG.info(String.format(Locale.ROOT,
          "CPU peak reference: %dx%d float32 matmul %.1f GFLOP/s (%d threads)",
          o.matmulSize(), o.matmulSize(), peak, threads));
      if (precisions.contains(Precision.BFLOAT16)) {
        peakBf16 = Measurements.matmulGflops(o.matmulSize(), o.threads(), 5, Precision.BFLOAT16);
        LOG.info(String.format(Locale.ROOT, "CPU peak reference: %dx%d bfloat16 matmul %.1f GFLOP/s"
            + " (%d threads)", o.matmulSize(), o.matmulSize(), peakBf16, threads));
      }
    }
    List<Row> rows = new ArrayList<>();
    for (int i = 0; i < o.presets().size(); i++) {
      for (boolean xla : o.xla()) {
        for (Precision p : precisions) {
          Row r = Measurements.stepThroughput(o.presets().get(i), xla, p, o.batchSize(), o.warmup(),
              o.steps().get(i).intValue(), o.threads(),
              p == Precision.BFLOAT16 ? peakBf16 : peak, o.profile());
          rows.add(r);
          LOG.info(String.format(Locale.ROOT,
              "pretrain step %-6s xla=%-5s %-8s batch %d: %.0f ms/step,"
                  + " %.1f images/s, %.1f GFLOP/step, %.1f GFLOP/s (%.0f%% of the %s peak),"
                  + " %d XLA clusters",
              r.preset(), r.xla(), r.precision(), r.batchSize(), r.stepMs(), r.imagesPerSecond(),
              r.flopsPerStep() / 1e9, r.achievedGflops(), 100 * r.fractionOfPeak(),
              p == Precision.BFLOAT16 ? "bfloat16" : "float32", r.xlaClusters()));
          if (!r.opTypeMillis().isEmpty()) {
            double total = r.opMillisTotal();
            StringBuilder line = new StringBuilder(String.format(Locale.ROOT,
                "  time by op type (one traced step, %.0f ms summed over ops):", total));
            r.opTypeMillis().forEach((type, ms) -> line.append(String.format(Locale.ROOT,
                " %s %.0f ms (%.0f%%),", type, ms, 100 * ms / total)));
            LOG.info(line.substring(0, line.length() - 1));
          }
        }
      }
    }
    double pipeline = Double.NaN;
    double pipelineOverStep = Double.NaN;
    Memory memory = null;
    if (o.pipelineDataset() != null) {
      ImageSource src = Datasets.open(o.pipelineDataset(), o.dataDir());
      pipeline = Measurements.pipelineImagesPerSecond(src, o.batchSize(), o.pipelineSeconds());
      double step = rows.stream().filter(r -> r.preset().equals(o.presets().get(0)) && !r.xla())
          .mapToDouble(Row::imagesPerSecond).findFirst().orElse(rows.get(0).imagesPerSecond());
      pipelineOverStep = pipeline / step;
      LOG.info(String.format(Locale.ROOT,
          "input pipeline (%s, augmentation on, batch %d): %.0f images/s ="
              + " %.1fx what the %s step consumes", o.pipelineDataset(), o.batchSize(), pipeline,
          pipelineOverStep, o.presets().get(0)));
      if (o.rssSteps() > 0) {
        memory = Measurements.rssRun(src, o.presets().get(0), o.batchSize(), o.rssSteps(), o.threads());
      }
    }
    Report rep = new Report(o.command(), Measurements.machine(), threads, SessionConfigs.onednnActive(),
        cpuFlags, peak, peakBf16, o.matmulSize(), rows, o.pipelineDataset(), pipeline,
        pipelineOverStep, memory,
        memory == null ? Double.NaN : memory.growthPercent(), Measurements.rssMb("VmHWM"),
        (System.nanoTime() - t0) / 1e9);
    LOG.info(String.format(Locale.ROOT, "peak RSS of the process: %.0f MB", rep.peakRssMb()));
    return rep;
  }

  /** Writes the report as JSON (atomically). */
  public static void write(Path file, Report r) {
    Json.writeAtomic(file, r);
  }
}
