package dev.selfie.training.runtime;

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

  /**
   * Time per op type in a traced step ({@link #traceOptions}), largest first: the sum of
   * {@code op_end_rel_micros} over the step's nodes of each type (on several threads the sum may
   * exceed the wall time). Map order: descending time.
   */
  public static java.util.LinkedHashMap<String, Double> opTypeMillis(RunMetadata metadata) {
    java.util.HashMap<String, Double> ms = new java.util.HashMap<>();
    for (DeviceStepStats d : metadata.getStepStats().getDevStatsList()) {
      for (NodeExecStats n : d.getNodeStatsList()) {
        String label = n.getTimelineLabel();
        int eq = label.indexOf(" = ");
        String type = eq >= 0 ? label.substring(eq + 3) : n.getNodeName();
        int paren = type.indexOf('(');
        type = paren > 0 ? type.substring(0, paren) : type;
        ms.merge(type, n.getOpEndRelMicros() / 1000.0, Double::sum);
      }
    }
    java.util.LinkedHashMap<String, Double> out = new java.util.LinkedHashMap<>();
    ms.entrySet().stream().sorted(java.util.Map.Entry.<String, Double>comparingByValue().reversed())
        .forEach(e -> out.put(e.getKey(), e.getValue()));
    return out;
  }
}
