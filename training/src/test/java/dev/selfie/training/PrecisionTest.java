package dev.selfie.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.selfie.graph.ModelConfig;
import dev.selfie.training.jobs.Pretrain;
import dev.selfie.training.optim.OptimizerConfig;
import dev.selfie.training.options.RuntimeOptions;
import dev.selfie.training.run.Json;
import dev.selfie.training.run.MetricsWriter;
import dev.selfie.training.run.RunDir;
import dev.selfie.training.runtime.Precision;
import dev.selfie.training.runtime.SessionConfigs;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.proto.ConfigProto;
import org.tensorflow.proto.RewriterConfig;
import org.tensorflow.types.TFloat32;

/** {@code --precision}: parsing, the choice per machine, the session rewrite, old configs. */
class PrecisionTest {
  static final Set<String> BF16_CPU = Set.of("avx2", "avx512f", "avx512_bf16");
  static final Set<String> AVX2_CPU = Set.of("avx2", "fma");

  @Test
  void badFlagNamesTheFlagAndTheValues() {
    var e = assertThrows(IllegalArgumentException.class, () -> Precision.checkFlag("fp16"));
    assertTrue(e.getMessage().contains("--precision") && e.getMessage().contains("fp16")
        && e.getMessage().contains("bfloat16"), e.getMessage());
    assertEquals("bfloat16", Precision.checkFlag("BFloat16"));
    assertEquals("auto", Precision.checkFlag(null));
    // The run options check it when built, so a bad flag fails before a run directory exists.
    assertThrows(IllegalArgumentException.class, () -> Pretrain.Options.defaults(Path.of("x"))
        .withRuntime(RuntimeOptions.defaults().withPrecision("half")));
  }

  @Test
  void autoPicksBfloat16OnlyWithTheCpuFlagAndOnednn() {
    Precision.Choice c = Precision.resolve("auto", false, true, BF16_CPU);
    assertEquals(Precision.BFLOAT16, c.precision());
    assertEquals("bfloat16 (avx512_bf16)", c.describe());
    assertEquals(Precision.BFLOAT16, Precision.resolve("auto", false, true,
        Set.of("amx_bf16", "amx_tile")).precision());
    assertEquals(Precision.FLOAT32, Precision.resolve("auto", false, true, AVX2_CPU).precision());
    assertEquals(Precision.FLOAT32, Precision.resolve("auto", false, false, BF16_CPU).precision(),
        "oneDNN off: no bfloat16 kernels");
    assertEquals(Precision.FLOAT16, Precision.resolve("auto", true, true, AVX2_CPU).precision());
    assertEquals(Precision.FLOAT32, Precision.resolve("float32", false, true, BF16_CPU)
        .precision());
    assertEquals(Precision.FLOAT16, Precision.resolve("float16", false, true, AVX2_CPU)
        .precision(), "explicit float16 on a CPU: emulated, allowed (tests)");
  }

  @Test
  void impossibleExplicitChoicesFailClearly() {
    var gpu = assertThrows(IllegalArgumentException.class,
        () -> Precision.resolve("bfloat16", true, true, BF16_CPU));
    assertTrue(gpu.getMessage().contains("--precision bfloat16"), gpu.getMessage());
    var onednn = assertThrows(IllegalArgumentException.class,
        () -> Precision.resolve("bfloat16", false, false, BF16_CPU));
    assertTrue(onednn.getMessage().contains("TF_ENABLE_ONEDNN_OPTS"), onednn.getMessage());
  }

  @Test
  void cpuFlagsFromCpuinfo() {
    Set<String> f = Precision.cpuFlags(List.of("processor\t: 0", "model name\t: X",
        "flags\t\t: fpu avx2 avx512f avx512_bf16 amx_bf16 amx_tile", "processor\t: 1"));
    assertEquals(Set.of("amx_bf16", "avx512_bf16"), Precision.bf16Flags(f));
    assertTrue(Precision.cpuFlags(List.of("no flags here")).isEmpty());
  }

  @Test
  void sessionConfigTurnsOnTheMatchingRewrite() {
    RewriterConfig bf16 = rewrite(Precision.BFLOAT16, false);
    assertEquals(RewriterConfig.Toggle.ON, bf16.getAutoMixedPrecisionOnednnBfloat16());
    assertEquals(RewriterConfig.Toggle.DEFAULT, bf16.getAutoMixedPrecision());
    assertEquals(RewriterConfig.Toggle.ON, rewrite(Precision.FLOAT16, false)
        .getAutoMixedPrecisionCpu());
    assertEquals(RewriterConfig.Toggle.ON, rewrite(Precision.FLOAT16, true)
        .getAutoMixedPrecision());
    assertEquals(RewriterConfig.getDefaultInstance(), rewrite(Precision.FLOAT32, false));
  }

  private static RewriterConfig rewrite(Precision p, boolean gpu) {
    ConfigProto c = SessionConfigs.configProto(new SessionConfigs.Options(1, 1, false, gpu, p));
    return c.getGraphOptions().getRewriteOptions();
  }

  /** Config files written before the field (no "precision") still load, as float32 runs. */
  @Test
  void configsWithoutPrecisionStillLoad(@TempDir Path tmp) {
    Pretrain.Config cfg = new Pretrain.Config("pretrain", "fashion-mnist", "tiny",
        ModelConfig.preset("tiny"), OptimizerConfig.sgd(0.1, 1, 10), 8, 10, 1, true, false,
        "bfloat16");
    RunDir dir = RunDir.create(tmp.resolve("run"));
    dir.writeConfig(cfg);
    assertEquals(cfg, dir.readConfig(Pretrain.Config.class));
    ObjectNode old = (ObjectNode) Json.tree(cfg);
    old.remove("precision");
    Json.writeAtomic(dir.config(), old);
    Pretrain.Config read = dir.readConfig(Pretrain.Config.class);
    assertNull(read.precision());
    assertEquals(Precision.FLOAT32, Precision.ofRecorded(read.precision()));
    assertEquals(cfg.model(), read.model());
    MetricsWriter.Metrics m = new MetricsWriter.Metrics(1, 1, 1, 1, java.util.Map.of(), 1, 1, 1,
        "t");
    ObjectNode oldMetrics = (ObjectNode) Json.tree(m);
    oldMetrics.remove("precision");
    Json.writeAtomic(dir.metrics(), oldMetrics);
    assertEquals(m, MetricsWriter.read(dir.metrics()));
  }

  /**
   * The bfloat16 session really computes in bfloat16: a [64, 256] x [256, 64] matmul of the same
   * fed float32 values differs from float32 by about bfloat16's rounding (8 mantissa bits:
   * relative error ~2^-9 per input), while the float32 session matches a float64 reference.
   */
  @Test
  void bfloat16SessionRoundsMatmulInputs() {
    Set<String> bf16 = Precision.bf16Flags(Precision.cpuFlags());
    if (bf16.isEmpty() || !SessionConfigs.onednnRequested()) {
      System.out.println("SKIPPED bfloat16SessionRoundsMatmulInputs: this CPU has no avx512_bf16"
          + " or amx_bf16 (or oneDNN is off)");
    }
    assumeTrue(!bf16.isEmpty() && SessionConfigs.onednnRequested(), "no bfloat16 CPU");
    int n = 64;
    int k = 256;
    float[] a = new float[n * k];
    float[] b = new float[k * n];
    Random rnd = new Random(3);
    for (int i = 0; i < a.length; i++) {
      a[i] = (float) rnd.nextGaussian();
      b[i] = (float) rnd.nextGaussian();
    }
    double[] ref = new double[n * n];
    for (int i = 0; i < n; i++) {
      for (int j = 0; j < n; j++) {
        double s = 0;
        for (int l = 0; l < k; l++) {
          s += (double) a[i * k + l] * b[l * n + j];
        }
        ref[i * n + j] = s;
      }
    }
    double errF32 = maxRelError(matmul(a, b, n, k, Precision.FLOAT32), ref);
    double errBf16 = maxRelError(matmul(a, b, n, k, Precision.BFLOAT16), ref);
    assertTrue(errF32 < 1e-5, "float32 matmul error " + errF32);
    // Each product has two inputs rounded to 8 bits: relative error ~2^-8 summed over 256 terms
    // of random sign: ~2^-8 * sqrt(256) / sqrt(256) of the norm, i.e. 1e-3..1e-2 of the RMS.
    assertTrue(errBf16 > 1e-4 && errBf16 < 3e-2, "bfloat16 matmul error " + errBf16);
  }

  /** max |x - ref| / rms(ref). */
  private static double maxRelError(float[] x, double[] ref) {
    double rms = 0;
    double max = 0;
    for (int i = 0; i < ref.length; i++) {
      rms += ref[i] * ref[i];
      max = Math.max(max, Math.abs(x[i] - ref[i]));
    }
    return max / Math.sqrt(rms / ref.length);
  }

  private static float[] matmul(float[] a, float[] b, int n, int k, Precision p) {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Placeholder<TFloat32> pa = tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(n, k)));
      Placeholder<TFloat32> pb = tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(k, n)));
      // Through an identity: grappler leaves fetched nodes in their dtype.
      Operand<TFloat32> c = tf.identity(tf.linalg.matMul(pa, pb));
      float[] out = new float[n * n];
      try (Session s = new Session(g, SessionConfigs.configProto(
              new SessionConfigs.Options(1, 1, false, false, p)));
          TFloat32 ta = TFloat32.tensorOf(Shape.of(n, k), d -> d.copyFrom(DataBuffers.of(a)));
          TFloat32 tb = TFloat32.tensorOf(Shape.of(k, n), d -> d.copyFrom(DataBuffers.of(b)));
          Result r = s.runner().feed(pa, ta).feed(pb, tb).fetch(c).run()) {
        ((TFloat32) r.get(0)).copyTo(DataBuffers.of(out));
      }
      return out;
    }
  }
}
