package dev.selfie.experiments;

import dev.selfie.data.ImageSource;
import dev.selfie.data.Split;
import dev.selfie.data.pipeline.Pipeline;
import dev.selfie.data.pipeline.PipelineOptions;
import dev.selfie.data.pipeline.Pipelines;
import dev.selfie.graph.FlopCounter;
import dev.selfie.graph.ModelConfig;
import dev.selfie.graph.Selfie;
import dev.selfie.graph.VarStore;
import dev.selfie.training.loop.GlobalStep;
import dev.selfie.training.optim.OptimizerConfig;
import dev.selfie.training.optim.Optimizers;
import dev.selfie.training.options.ScheduleOptions;
import dev.selfie.training.run.ModelFiles;
import dev.selfie.training.runtime.Precision;
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
 * The measurements behind {@code selfie benchmark} ({@link Benchmark}): the float32/bfloat16
 * matmul peak, the pretraining step's throughput (and per-op profile), the input pipeline alone,
 * resident memory over a long run, and the machine's description (model, cores, CPU flags).
 */
public final class Measurements {
  private static final Logger LOG = LoggerFactory.getLogger(Measurements.class);

  private Measurements() {}

  /** The CPU flags that matter for speed (AVX2, AVX-512, bfloat16, AMX) of this machine. */
  public static List<String> cpuFlagsOfNote() {
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
  public static Benchmark.Row stepThroughput(String preset, boolean xla, Precision precision, int batch,
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
        return new Benchmark.Row(preset, xla, precision.flag(), batch, steps, 1000 * sec / steps, ips, fwd,
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
  public static Benchmark.Memory rssRun(ImageSource src, String preset, int batch, int steps, int threads) {
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
        return new Benchmark.Memory(preset, steps, ips, start, end, growth, samples);
      }
    }
  }

  /** A line of /proc/self/status in MB (VmRSS, VmHWM); NaN where there is no /proc. */
  public static double rssMb(String key) {
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
  public static String machine() {
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
}
