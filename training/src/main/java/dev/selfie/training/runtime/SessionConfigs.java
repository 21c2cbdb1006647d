package dev.selfie.training.runtime;

import java.util.List;
import java.util.Map;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.proto.ConfigProto;
import org.tensorflow.proto.GraphOptions;
import org.tensorflow.proto.OptimizerOptions;
import org.tensorflow.proto.RewriterConfig;
import org.tensorflow.types.TFloat32;

/** Builds the session {@code ConfigProto} from run options. */
public final class SessionConfigs {
  private SessionConfigs() {}

  /**
   * Session options of a run.
   *
   * @param intraOpThreads threads inside one op (0: TF default, one per core)
   * @param interOpThreads ops run in parallel (0: TF default)
   * @param xla JIT-compile clusters with XLA (global JIT level ON_2 and CPU global JIT)
   * @param gpu a GPU is used: soft placement and on-demand GPU memory
   * @param precision the mixed precision rewrite of the session ({@link Precision})
   */
  public record Options(int intraOpThreads, int interOpThreads, boolean xla, boolean gpu,
      Precision precision) {
    /** float32. */
    public Options(int intraOpThreads, int interOpThreads, boolean xla, boolean gpu) {
      this(intraOpThreads, interOpThreads, xla, gpu, Precision.FLOAT32);
    }

    /** These options with {@code p}. */
    public Options withPrecision(Precision p) {
      return new Options(intraOpThreads, interOpThreads, xla, gpu, p);
    }

    public Options {
      if (precision == null) {
        throw new IllegalArgumentException("precision must not be null");
      }
      if (intraOpThreads < 0) {
        throw new IllegalArgumentException(
            "--threads (intra-op threads) must be >= 0 (0 = one per core), got " + intraOpThreads);
      }
      if (interOpThreads < 0) {
        throw new IllegalArgumentException(
            "inter-op threads must be >= 0 (0 = TensorFlow default), got " + interOpThreads);
      }
    }

    /** TF defaults: all cores, no XLA, CPU. */
    public static Options defaults() {
      return new Options(0, 0, false, false);
    }
  }

  /**
   * The ConfigProto of {@code o}.
   *
   * <p>XLA: {@code graph_options.optimizer_options.global_jit_level = ON_2} (what GPUs use) and
   * {@code cpu_global_jit = true}. Measured with TF Java 1.1.0: the two together make the CPU
   * session compile clusters ({@code _XlaCompile}/{@code _XlaRun} in the step stats, "Compiled
   * cluster using XLA!" in the log) without {@code TF_XLA_FLAGS}; global_jit_level alone does not
   * on CPU. GPU: {@code allow_soft_placement} (ops without a GPU kernel fall back to the CPU).
   * Every config gets this process's GPU memory options ({@link DeviceOptions#applyTo}).
   *
   * <p>Precision: {@code graph_options.rewrite_options} turns on grappler's mixed precision pass:
   * {@code auto_mixed_precision_onednn_bfloat16} for bfloat16, {@code auto_mixed_precision} for
   * float16 on a GPU, {@code auto_mixed_precision_cpu} (float16 emulated) on a CPU.
   */
  public static ConfigProto configProto(Options o) {
    ConfigProto.Builder b = ConfigProto.newBuilder()
        .setIntraOpParallelismThreads(o.intraOpThreads())
        .setInterOpParallelismThreads(o.interOpThreads());
    GraphOptions.Builder graph = GraphOptions.newBuilder();
    if (o.xla()) {
      graph.setOptimizerOptions(
          OptimizerOptions.newBuilder()
              .setGlobalJitLevel(OptimizerOptions.GlobalJitLevel.ON_2)
              .setCpuGlobalJit(true));
    }
    RewriterConfig.Builder rewrite = RewriterConfig.newBuilder();
    switch (o.precision()) {
      case BFLOAT16 -> rewrite.setAutoMixedPrecisionOnednnBfloat16(RewriterConfig.Toggle.ON);
      case FLOAT16 -> {
        if (o.gpu()) {
          rewrite.setAutoMixedPrecision(RewriterConfig.Toggle.ON);
        } else {
          rewrite.setAutoMixedPrecisionCpu(RewriterConfig.Toggle.ON);
        }
      }
      case FLOAT32 -> { }
    }
    if (o.precision() != Precision.FLOAT32) {
      graph.setRewriteOptions(rewrite);
    }
    if (o.xla() || o.precision() != Precision.FLOAT32) {
      b.setGraphOptions(graph);
    }
    if (o.gpu()) {
      b.setAllowSoftPlacement(true);
    }
    // GPU memory options (the same in every session: the first one fixes them) and --device cpu.
    DeviceOptions.current().applyTo(b);
    return b.build();
  }

  /**
   * Whether {@code TF_ENABLE_ONEDNN_OPTS} asks for TensorFlow's oneDNN CPU kernels (1 or true).
   * {@link Relauncher} and the {@code ./selfie} launcher set it to 1 unless the user set it. When
   * it is unset TensorFlow decides by CPU (measured: off on an AVX2-only AMD EPYC); see
   * {@link #onednnActive} for what a session actually uses.
   */
  public static boolean onednnRequested() {
    String v = System.getenv(Relauncher.ONEDNN_ENV);
    return v != null && (v.trim().equals("1") || v.trim().equalsIgnoreCase("true"));
  }

  /**
   * Whether sessions of this process run oneDNN kernels: runs one traced 3x3 convolution on a fed
   * [4, 16, 16, 8] batch, pinned to CPU:0 (on a GPU machine it would otherwise run on GPU:0), and
   * looks for a {@code _Mkl*} op type in its step stats (~0.1 s).
   */
  public static boolean onednnActive() {
    return onednnProbe().opTypes().stream().anyMatch(t -> t.startsWith("_Mkl"));
  }

  /**
   * The probe's traced step.
   *
   * @param opTypes op types that ran
   * @param convDevices devices the convolution ran on (step stats device names)
   */
  public record OnednnProbe(java.util.Set<String> opTypes, java.util.Set<String> convDevices) {}

  /** Runs the probe of {@link #onednnActive}. */
  public static OnednnProbe onednnProbe() {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g).withDevice(Devices.modelDevice(false));
      // Fed, not constant: grappler would fold a constant convolution away.
      Placeholder<TFloat32> x = tf.placeholder(TFloat32.class);
      Placeholder<TFloat32> w = tf.placeholder(TFloat32.class);
      Operand<TFloat32> y = tf.reduceSum(tf.nn.conv2d(x, w, List.of(1L, 1L, 1L, 1L), "SAME"),
          tf.constant(new int[] {0, 1, 2, 3}));
      try (Session s = new Session(g);
          TFloat32 in = TFloat32.tensorOf(Shape.of(4, 16, 16, 8));
          TFloat32 filter = TFloat32.tensorOf(Shape.of(3, 3, 8, 16));
          Result r = s.runner().feed(x, in).feed(w, filter).fetch(y)
              .setOptions(Xla.traceOptions()).runAndFetchMetadata()) {
        org.tensorflow.proto.RunMetadata meta = r.getMetadata().orElseThrow();
        Map<String, Double> byType = Xla.opTypeMillis(meta);
        if (byType.keySet().stream().noneMatch(t -> t.contains("Conv2D"))) {
          throw new IllegalStateException("oneDNN probe: no convolution in the traced step: "
              + byType.keySet());
        }
        java.util.Set<String> convDevices = new java.util.TreeSet<>();
        for (org.tensorflow.proto.DeviceStepStats d : meta.getStepStats().getDevStatsList()) {
          for (org.tensorflow.proto.NodeExecStats n : d.getNodeStatsList()) {
            if (n.getTimelineLabel().contains("Conv2D")) {
              convDevices.add(d.getDevice());
            }
          }
        }
        return new OnednnProbe(byType.keySet(), convDevices);
      }
    }
  }

  /** Threads the CPU will use for one op: the setting, or the core count for 0. */
  public static int effectiveIntraOpThreads(Options o) {
    return o.intraOpThreads() > 0 ? o.intraOpThreads() : Runtime.getRuntime().availableProcessors();
  }
}
