package dev.selfie.training.experiments;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.selfie.data.Datasets;
import dev.selfie.data.ImageSource;
import dev.selfie.data.Pipeline;
import dev.selfie.data.PipelineOptions;
import dev.selfie.data.Pipelines;
import dev.selfie.data.Split;
import dev.selfie.graph.FlopCounter;
import dev.selfie.graph.ModelConfig;
import dev.selfie.graph.Selfie;
import dev.selfie.graph.VarStore;
import dev.selfie.training.loop.GlobalStep;
import dev.selfie.training.optim.OptimizerConfig;
import dev.selfie.training.optim.Optimizers;
import dev.selfie.training.options.ScheduleOptions;
import dev.selfie.training.run.Json;
import dev.selfie.training.run.ModelFiles;
import dev.selfie.training.runtime.Precision;
import dev.selfie.training.runtime.Relauncher;
import dev.selfie.training.runtime.SessionConfigs;
import dev.selfie.training.runtime.Xla;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.StdArrays;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.proto.RunMetadata;
import org.tensorflow.types.TBfloat16;
import org.tensorflow.types.TFloat16;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt64;

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
    String cpuFlags = String.join(" ", cpuFlagsOfNote());
    LOG.info("CPU flags: " + cpuFlags);
    double peak = Double.NaN;
    double peakBf16 = Double.NaN;
    if (o.matmulSize() > 0) {
      peak = matmulGflops(o.matmulSize(), o.threads(), 5, Precision.FLOAT32);
      LOG.info(String.format(Locale.ROOT, 
          "CPU peak reference: %dx%d float32 matmul %.1f GFLOP/s (%d threads)",
          o.matmulSize(), o.matmulSize(), peak, threads));
      if (precisions.contains(Precision.BFLOAT16)) {
        peakBf16 = matmulGflops(o.matmulSize(), o.threads(), 5, Precision.BFLOAT16);
        LOG.info(String.format(Locale.ROOT, "CPU peak reference: %dx%d bfloat16 matmul %.1f GFLOP/s"
            + " (%d threads)", o.matmulSize(), o.matmulSize(), peakBf16, threads));
      }
    }
    List<Row> rows = new ArrayList<>();
    for (int i = 0; i < o.presets().size(); i++) {
      for (boolean xla : o.xla()) {
        for (Precision p : precisions) {
          Row r = stepThroughput(o.presets().get(i), xla, p, o.batchSize(), o.warmup(),
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
      pipeline = pipelineImagesPerSecond(src, o.batchSize(), o.pipelineSeconds());
      double step = rows.stream().filter(r -> r.preset().equals(o.presets().get(0)) && !r.xla())
          .mapToDouble(Row::imagesPerSecond).findFirst().orElse(rows.get(0).imagesPerSecond());
      pipelineOverStep = pipeline / step;
      LOG.info(String.format(Locale.ROOT, 
          "input pipeline (%s, augmentation on, batch %d): %.0f images/s ="
              + " %.1fx what the %s step consumes", o.pipelineDataset(), o.batchSize(), pipeline,
          pipelineOverStep, o.presets().get(0)));
      if (o.rssSteps() > 0) {
        memory = rssRun(src, o.presets().get(0), o.batchSize(), o.rssSteps(), o.threads());
      }
    }
    Report rep = new Report(o.command(), machine(), threads, SessionConfigs.onednnActive(),
        cpuFlags, peak, peakBf16, o.matmulSize(), rows, o.pipelineDataset(), pipeline,
        pipelineOverStep, memory,
        memory == null ? Double.NaN : memory.growthPercent(), rssMb("VmHWM"),
        (System.nanoTime() - t0) / 1e9);
    LOG.info(String.format(Locale.ROOT, "peak RSS of the process: %.0f MB", rep.peakRssMb()));
    return rep;
  }

  /** The CPU flags that matter for speed (AVX2, AVX-512, bfloat16, AMX) of this machine. */
  static List<String> cpuFlagsOfNote() {
    return Precision.cpuFlags().stream().filter(f -> f.equals("avx2") || f.equals("fma")
        || f.equals("avx512f") || f.equals("avx512_bf16") || f.equals("avx512_fp16")
        || f.startsWith("amx")).toList();
  }

  /** GFLOP/s of the best of {@code runs} [n, n] x [n, n] float32 matmuls (after one warm-up). */
  public static double matmulGflops(int n, int threads, int runs) {
    return matmulGflops(n, threads, runs, Precision.FLOAT32);
  }

  /**
   * GFLOP/s of the best of {@code runs} [n, n] x [n, n] matmuls in {@code precision} (after one
   * warm-up): float32 inputs fed, cast in the graph to bfloat16/float16 (O(n^2), negligible next to
   * the n^3 matmul), the product summed in float32.
   */
  public static double matmulGflops(int n, int threads, int runs, Precision precision) {
    Random rnd = new Random(1);
    float[][] a = new float[n][n];
    float[][] b = new float[n][n];
    for (int i = 0; i < n; i++) {
      for (int j = 0; j < n; j++) {
        a[i][j] = rnd.nextFloat() - 0.5f;
        b[i][j] = rnd.nextFloat() - 0.5f;
      }
    }
    try (Graph g = new Graph();
        Session s = new Session(g, SessionConfigs.configProto(
            new SessionConfigs.Options(threads, 0, false, false)));
        TFloat32 ta = TFloat32.tensorOf(StdArrays.ndCopyOf(a));
        TFloat32 tb = TFloat32.tensorOf(StdArrays.ndCopyOf(b))) {
      Ops tf = Ops.create(g);
      Placeholder<TFloat32> pa = tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(n, n)));
      Placeholder<TFloat32> pb = tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(n, n)));
      // Reduce on the device so the fetch is a scalar, not an [n, n] copy.
      Operand<TFloat32> prod = switch (precision) {
        case FLOAT32 -> tf.linalg.matMul(pa, pb);
        case BFLOAT16 -> tf.dtypes.cast(tf.linalg.matMul(tf.dtypes.cast(pa, TBfloat16.class),
            tf.dtypes.cast(pb, TBfloat16.class)), TFloat32.class);
        case FLOAT16 -> tf.dtypes.cast(tf.linalg.matMul(tf.dtypes.cast(pa, TFloat16.class),
            tf.dtypes.cast(pb, TFloat16.class)), TFloat32.class);
      };
      Operand<TFloat32> c = tf.reduceSum(prod, tf.constant(new int[] {0, 1}));
      double best = Double.MAX_VALUE;
      for (int r = 0; r <= runs; r++) {
        long t = System.nanoTime();
        try (Result res = s.runner().feed(pa, ta).feed(pb, tb).fetch(c).run()) {
          // the scalar is discarded
        }
        double sec = (System.nanoTime() - t) / 1e9;
        if (r > 0) {
          best = Math.min(best, sec);
        }
      }
      return 2.0 * n * n * n / best / 1e9;
    }
  }

  /** Times the pretraining step of {@code preset} on a fixed random batch. */
  public static Row stepThroughput(String preset, boolean xla, Precision precision, int batch,
      int warmup, int steps, int threads, double peakGflops, int profile) {
    ModelConfig model = ModelFiles.resolve(preset);
    long fwd = FlopCounter.summarize(model).flopsPerImage().pretrain();
    double flopsPerStep = 3.0 * fwd * batch;
    long tb = System.nanoTime();
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      int s = model.imageSize();
      Placeholder<TFloat32> images = tf.withName("images").placeholder(TFloat32.class,
          Placeholder.shape(Shape.of(-1, s, s, model.channels())));
      Placeholder<TInt64> seed = tf.withName("seed")
          .placeholder(TInt64.class, Placeholder.shape(Shape.of(2)));
      VarStore vars = new VarStore(Ops.create(g), 1);
      GlobalStep step = GlobalStep.create(tf);
      Selfie.PretrainOutputs out = Selfie.pretrain(tf, vars, model, images, seed, true);
      OptimizerConfig opt = ScheduleOptions.optimizer("sgd", 0.01, 0, 1_000_000, 1e-4);
      Optimizers.TrainOp train = Optimizers.minimize(tf, g, out.loss(), vars, opt, step);
      SessionConfigs.Options so = new SessionConfigs.Options(threads, 0, xla, false, precision);
      float[] pixels = new float[batch * s * s * model.channels()];
      Random rnd = new Random(7);
      for (int i = 0; i < pixels.length; i++) {
        pixels[i] = (float) rnd.nextGaussian();
      }
      try (Session session = new Session(g, SessionConfigs.configProto(so));
          TFloat32 x = TFloat32.tensorOf(Shape.of(batch, s, s, model.channels()),
              d -> d.copyFrom(org.tensorflow.ndarray.buffer.DataBuffers.of(pixels)))) {
        session.initialize();
        double build = (System.nanoTime() - tb) / 1e9;
        int clusters = 0;
        double first = 0;
        for (int i = 0; i < warmup; i++) {
          long t = System.nanoTime();
          try (TInt64 sd = TInt64.vectorOf(1, i)) {
            Session.Runner r = session.runner().feed(images, x).feed(seed, sd)
                .addTarget(train.trainOp()).fetch(out.loss());
            if (i == 0) {
              try (Result res = r.setOptions(Xla.traceOptions()).runAndFetchMetadata()) {
                checkFinite(res, preset);
                RunMetadata md = res.getMetadata().orElseThrow();
                clusters = Xla.clusters(md).size();
              }
            } else {
              try (Result res = r.run()) {
                checkFinite(res, preset);
              }
            }
          }
          if (i == 0) {
            first = (System.nanoTime() - t) / 1e9;
          }
        }
        long t = System.nanoTime();
        for (int i = 0; i < steps; i++) {
          try (TInt64 sd = TInt64.vectorOf(1, warmup + i);
              Result res = session.runner().feed(images, x).feed(seed, sd)
                  .addTarget(train.trainOp()).fetch(out.loss()).run()) {
            if (i == steps - 1) {
              checkFinite(res, preset);
            }
          }
        }
        double sec = (System.nanoTime() - t) / 1e9;
        Map<String, Double> byType = new LinkedHashMap<>();
        double opTotal = Double.NaN;
        if (profile > 0) {
          try (TInt64 sd = TInt64.vectorOf(1, warmup + steps);
              Result res = session.runner().feed(images, x).feed(seed, sd)
                  .addTarget(train.trainOp()).fetch(out.loss()).setOptions(Xla.traceOptions())
                  .runAndFetchMetadata()) {
            Map<String, Double> all = Xla.opTypeMillis(res.getMetadata().orElseThrow());
            opTotal = all.values().stream().mapToDouble(Double::doubleValue).sum();
            all.entrySet().stream().limit(profile)
                .forEach(e -> byType.put(e.getKey(), Math.round(e.getValue() * 10) / 10.0));
          }
        }
        double ips = steps * (double) batch / sec;
        double gflops = flopsPerStep * steps / sec / 1e9;
        return new Row(preset, xla, precision.flag(), batch, steps, 1000 * sec / steps, ips, fwd,
            flopsPerStep, gflops, gflops / peakGflops, clusters, first, build, byType, opTotal);
      }
    }
  }

  private static void checkFinite(Result res, String preset) {
    float loss = ((TFloat32) res.get(0)).getFloat();
    if (!Float.isFinite(loss)) {
      throw new IllegalStateException("benchmark " + preset + ": non-finite loss " + loss);
    }
  }

  /** Images/s of the training pipeline (shuffle, augmentation, batch) alone, after 2 batches. */
  public static double pipelineImagesPerSecond(ImageSource src, int batch, double seconds) {
    try (Graph g = new Graph(); Session s = new Session(g)) {
      Ops tf = Ops.create(g);
      Pipeline p = Pipelines.build(tf, src, Split.TRAIN, PipelineOptions.train(batch, 1));
      s.initialize();
      for (int i = 0; i < 2; i++) {
        s.runner().fetch(p.images()).run().close();
      }
      long images = 0;
      long start = System.nanoTime();
      long end = start + (long) (seconds * 1e9);
      while (System.nanoTime() < end) {
        try (Result r = s.runner().fetch(p.images()).run()) {
          images += r.get(0).shape().get(0);
        }
      }
      return images / ((System.nanoTime() - start) / 1e9);
    }
  }

  /**
   * A long pretraining run of {@code preset} fed by the real pipeline (the dataset's geometry):
   * RSS after 20 warm-up steps, every {@code steps / 10} steps, and at the end.
   */
  public static Memory rssRun(ImageSource src, String preset, int batch, int steps, int threads) {
    ModelConfig model = ModelFiles.resolve(preset)
        .withData(src.spec().channels(), src.spec().numClasses());
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Pipeline data = Pipelines.build(tf.withSubScope("data"), src, Split.TRAIN,
          PipelineOptions.train(batch, 1));
      Placeholder<TInt64> seed = tf.withName("seed")
          .placeholder(TInt64.class, Placeholder.shape(Shape.of(2)));
      VarStore vars = new VarStore(Ops.create(g), 1);
      GlobalStep step = GlobalStep.create(tf);
      Selfie.PretrainOutputs out = Selfie.pretrain(tf, vars, model, data.images(), seed, true);
      Optimizers.TrainOp train = Optimizers.minimize(tf, g, out.loss(),
          vars, ScheduleOptions.optimizer("sgd", 0.05, 10, steps, 1e-4), step);
      try (Session session = new Session(g, SessionConfigs.configProto(
          new SessionConfigs.Options(threads, 0, false, false)))) {
        session.initialize();
        int warm = Math.min(20, Math.max(1, steps / 10));
        List<Double> samples = new ArrayList<>();
        double start = 0;
        long t = 0;
        int every = Math.max(1, steps / 10);
        for (int i = 0; i < warm + steps; i++) {
          if (i == warm) {
            start = rssMb("VmRSS");
            samples.add(start);
            t = System.nanoTime();
          }
          try (TInt64 sd = TInt64.vectorOf(1, i);
              Result res = session.runner().feed(seed, sd).addTarget(train.trainOp())
                  .fetch(out.loss()).run()) {
            if (i == warm + steps - 1) {
              checkFinite(res, preset);
            }
          }
          if (i >= warm && (i - warm + 1) % every == 0) {
            samples.add(rssMb("VmRSS"));
          }
        }
        double sec = (System.nanoTime() - t) / 1e9;
        double end = rssMb("VmRSS");
        double growth = 100 * (end - start) / start;
        double ips = steps * (double) batch / sec;
        LOG.info(String.format(Locale.ROOT, 
            "RSS over %d %s steps with the pipeline (%.1f images/s): %.0f MB"
                + " after warm-up -> %.0f MB (%+.1f%%)", steps, preset, ips, start, end, growth));
        return new Memory(preset, steps, ips, start, end, growth, samples);
      }
    }
  }

  /** A line of /proc/self/status in MB (VmRSS, VmHWM); NaN where there is no /proc. */
  static double rssMb(String key) {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
        if (line.startsWith(key + ":")) {
          String[] parts = line.substring(key.length() + 1).trim().split("\\s+");
          return Long.parseLong(parts[0]) / 1024.0;
        }
      }
    } catch (IOException | NumberFormatException e) {
      return Double.NaN;
    }
    return Double.NaN;
  }

  /** "model name x cores" from /proc/cpuinfo (or the OS arch). */
  static String machine() {
    String cpu = System.getProperty("os.arch");
    try {
      cpu = Files.readAllLines(Path.of("/proc/cpuinfo")).stream()
          .filter(l -> l.startsWith("model name")).map(l -> l.substring(l.indexOf(':') + 1).trim())
          .findFirst().orElse(cpu);
    } catch (IOException e) {
      // keep the arch
    }
    return cpu + ", " + Runtime.getRuntime().availableProcessors() + " cores";
  }

  /** Writes the report as JSON (atomically). */
  public static void write(Path file, Report r) {
    Json.writeAtomic(file, r);
  }
}
