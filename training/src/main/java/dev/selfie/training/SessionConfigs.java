package dev.selfie.training;

import org.tensorflow.proto.ConfigProto;
import org.tensorflow.proto.GPUOptions;
import org.tensorflow.proto.GraphOptions;
import org.tensorflow.proto.OptimizerOptions;

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
   */
  public record Options(int intraOpThreads, int interOpThreads, boolean xla, boolean gpu) {
    public Options {
      if (intraOpThreads < 0) {
        throw new IllegalArgumentException(
            "--intra-op-threads must be >= 0 (0 = TensorFlow default), got " + intraOpThreads);
      }
      if (interOpThreads < 0) {
        throw new IllegalArgumentException(
            "--inter-op-threads must be >= 0 (0 = TensorFlow default), got " + interOpThreads);
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
   * on CPU. GPU: {@code allow_soft_placement} (ops without a GPU kernel fall back to the CPU) and
   * {@code gpu_options.allow_growth}.
   */
  public static ConfigProto configProto(Options o) {
    ConfigProto.Builder b = ConfigProto.newBuilder()
        .setIntraOpParallelismThreads(o.intraOpThreads())
        .setInterOpParallelismThreads(o.interOpThreads());
    if (o.xla()) {
      b.setGraphOptions(GraphOptions.newBuilder().setOptimizerOptions(
          OptimizerOptions.newBuilder()
              .setGlobalJitLevel(OptimizerOptions.GlobalJitLevel.ON_2)
              .setCpuGlobalJit(true)));
    }
    if (o.gpu()) {
      b.setAllowSoftPlacement(true)
          .setGpuOptions(GPUOptions.newBuilder().setAllowGrowth(true));
    }
    return b.build();
  }

  /** Threads the CPU will use for one op: the setting, or the core count for 0. */
  public static int effectiveIntraOpThreads(Options o) {
    return o.intraOpThreads() > 0 ? o.intraOpThreads() : Runtime.getRuntime().availableProcessors();
  }
}
