package dev.selfie.training;

import java.util.List;
import java.util.TreeSet;
import org.tensorflow.proto.DeviceStepStats;
import org.tensorflow.proto.NodeExecStats;
import org.tensorflow.proto.RunMetadata;
import org.tensorflow.proto.RunOptions;

/**
 * Whether XLA actually compiled something. Measured with TF Java 1.1.0 on CPU: when clusters are
 * compiled, a traced run's step stats list nodes {@code cluster_<n>_<m>/xla_compile}
 * ({@code _XlaCompile}) and {@code cluster_<n>_<m>/xla_run} ({@code _XlaRun}) in place of the
 * clustered ops (GPU: also {@code XlaLaunch}); the log line "Compiled cluster using XLA!" is only
 * on stderr at log level 0 and not visible in-process. Usage: run one step with
 * {@code runner.setOptions(Xla.traceOptions()).runAndFetchMetadata()} and pass the metadata to
 * {@link #clusters}.
 */
public final class Xla {
  private Xla() {}

  /** Run options that collect step stats (FULL_TRACE). */
  public static RunOptions traceOptions() {
    return RunOptions.newBuilder().setTraceLevel(RunOptions.TraceLevel.FULL_TRACE).build();
  }

  /** Names of the XLA clusters that ran in a traced step (empty: nothing was compiled). */
  public static List<String> clusters(RunMetadata metadata) {
    TreeSet<String> out = new TreeSet<>();
    for (DeviceStepStats d : metadata.getStepStats().getDevStatsList()) {
      for (NodeExecStats n : d.getNodeStatsList()) {
        String label = n.getTimelineLabel();
        int eq = label.indexOf(" = ");
        String op = eq >= 0 ? label.substring(eq + 3) : "";
        if (op.startsWith("_XlaRun") || op.startsWith("XlaLaunch")
            || n.getNodeName().endsWith("/xla_run")) {
          String name = n.getNodeName();
          int slash = name.indexOf('/');
          out.add(slash > 0 ? name.substring(0, slash) : name);
        }
      }
    }
    return List.copyOf(out);
  }
}
