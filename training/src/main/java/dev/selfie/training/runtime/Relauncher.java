package dev.selfie.training.runtime;

import java.io.File;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.net.URISyntaxException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;

/**
 * Makes sure the environment variables TensorFlow's native library reads once, when it loads,
 * are set before it loads:
 *
 * <ul>
 *   <li>{@code TF_ENABLE_ONEDNN_OPTS=1} unless the user set it (to anything, e.g. 0): TF Java
 *       1.1.0's CPU library contains oneDNN kernels but leaves them off by default, unlike Python
 *       TensorFlow on Linux x86. Measured: the small pretraining step ran 1.4x faster with them
 *       (docs/results/benchmark-avx2-2026-11-26.md);
 *   <li>{@code TF_OVERRIDE_GLOBAL_THREADPOOL=1} unless the user set it: without it TensorFlow
 *       sizes ONE intra-op thread pool per process from the first session it creates (an eager
 *       context made before any run's session has all cores) and every later session shares it,
 *       so {@code --threads N} was silently ignored and a run's numbers depended on how many cores
 *       the process could see (measured: a 60-step finetune with {@code --threads 1} ended with
 *       other weights unpinned than under {@code taskset -c 0}; with the variable both are
 *       bit-identical). With it each session's CPU device gets its own pool of the session's
 *       {@code intra_op_parallelism_threads};
 *   <li>{@code TF_XLA_FLAGS} when {@code --xla} is given.
 * </ul>
 *
 * <p>The {@code ./selfie} launcher exports both itself; under {@code mvn exec:java} (or a plain
 * {@code java} command) {@link #ensureEnv} re-executes the program in a child JVM with the
 * variables set, inheriting stdin/stdout/stderr, and exits with the child's exit code. Call it
 * first thing in {@code main}, before any TensorFlow class is used.
 *
 * <p>Note: {@link SessionConfigs#configProto} also turns on CPU JIT in-process
 * ({@code cpu_global_jit}), which was measured to compile clusters without the variable; the
 * variable additionally covers sessions created without that config.
 */
public final class Relauncher {
  private Relauncher() {}

  public static final String ENV = "TF_XLA_FLAGS";
  public static final String XLA_FLAGS = "--tf_xla_auto_jit=2 --tf_xla_cpu_global_jit";
  /** TensorFlow's switch for its oneDNN CPU kernels (read when the native library loads). */
  public static final String ONEDNN_ENV = "TF_ENABLE_ONEDNN_OPTS";
  /** TensorFlow's switch from one process-wide intra-op pool to one per session's device. */
  public static final String THREADPOOL_ENV = "TF_OVERRIDE_GLOBAL_THREADPOOL";
  /**
   * Grappler's mixed-precision op lists, trimmed for a CPU as the launcher {@code ./selfie} does
   * (the filter gradients and element-wise ops stay float32: measured faster on an AMX Xeon, no
   * slower on an AVX512_BF16 EPYC; docs/results/precision.md). Not on machines with an NVIDIA
   * driver, where float16 keeps TensorFlow's lists.
   */
  public static final Map<String, String> CPU_MIXED_PRECISION_LISTS = Map.of(
      "TF_AUTO_MIXED_PRECISION_GRAPH_REWRITE_ALLOWLIST_REMOVE", "Conv2DBackpropFilter",
      "TF_AUTO_MIXED_PRECISION_GRAPH_REWRITE_INFERLIST_REMOVE", "Mul,ReluGrad,AddN,Relu");
  /** Set in the child so it never relaunches again. */
  public static final String MARKER = "SELFIE_XLA_RELAUNCHED";
  public static final String DEFAULT_MAIN = "dev.selfie.cli.Main";

  /** {@link #ensureEnv(String[], String)} for the selfie CLI main class. */
  public static void ensureEnv(String[] args) {
    ensureEnv(args, DEFAULT_MAIN);
  }

  /**
   * Returns if nothing is missing; otherwise runs {@code java <same JVM options> -cp <same class
   * path> mainClass args} with {@link #missingEnv} added to the environment and calls
   * {@code System.exit} with its exit code.
   */
  public static void ensureEnv(String[] args, String mainClass) {
    Map<String, String> missing = missingEnv(args, System.getenv());
    if (missing.isEmpty()) {
      return;
    }
    List<String> cmd = command(System.getProperty("java.home"),
        ManagementFactory.getRuntimeMXBean().getInputArguments(), classPath(), mainClass, args);
    ProcessBuilder pb = new ProcessBuilder(cmd).inheritIO();
    pb.environment().putAll(missing);
    pb.environment().put(MARKER, "1");
    int code;
    try {
      Process p = pb.start();
      // A SIGTERM to this process reaches the child too (Ctrl-C reaches both already), so it
      // saves its checkpoint; wait for it to do so before this JVM exits.
      Thread forward = new Thread(() -> stopAndWait(List.of(p)), "selfie-relaunch-forward");
      Runtime.getRuntime().addShutdownHook(forward);
      code = p.waitFor();
      try {
        Runtime.getRuntime().removeShutdownHook(forward);
      } catch (IllegalStateException shuttingDown) {
        // the hook runs: it waits for the child
      }
    } catch (IOException e) {
      StringBuilder set = new StringBuilder();
      missing.forEach((k, v) -> set.append(' ').append(k).append("=\"").append(v).append('"'));
      throw new IllegalStateException("cannot re-launch java with" + set + " ("
          + e.getMessage() + "); set it yourself", e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      code = 130;
    }
    System.exit(code);
  }

  /** {@link #missingEnv(String[], Map, boolean)} on this machine. */
  public static Map<String, String> missingEnv(String[] args, Map<String, String> env) {
    return missingEnv(args, env, Files.exists(Path.of("/proc/driver/nvidia/version")));
  }

  /**
   * The variables to add, the launcher's settings for a JVM started another way ({@code mvn
   * exec:java}, an IDE): {@code TF_ENABLE_ONEDNN_OPTS=1} and {@code
   * TF_OVERRIDE_GLOBAL_THREADPOOL=1} when unset, {@code TF_XLA_FLAGS} when {@code --xla} is an
   * argument and the flags are not set; with any of those, also {@link #CPU_MIXED_PRECISION_LISTS}
   * where unset when the machine has no NVIDIA driver (the lists alone never cause a relaunch);
   * nothing in the child. A variable set to any value (also empty) is kept.
   */
  public static Map<String, String> missingEnv(String[] args, Map<String, String> env,
      boolean nvidiaDriver) {
    Map<String, String> out = new LinkedHashMap<>();
    if (env.get(MARKER) != null) {
      return out;
    }
    if (env.get(ONEDNN_ENV) == null) {
      out.put(ONEDNN_ENV, "1");
    }
    if (env.get(THREADPOOL_ENV) == null) {
      out.put(THREADPOOL_ENV, "1");
    }
    String flags = env.get(ENV);
    if (Arrays.asList(args).contains("--xla")
        && (flags == null || !flags.contains("--tf_xla_cpu_global_jit"))) {
      out.put(ENV, XLA_FLAGS);
    }
    if (!out.isEmpty() && !nvidiaDriver) {
      // Only with a relaunch that happens anyway: a JVM whose environment is otherwise complete
      // (a test's child JVM, a user who set the variables) is not started twice for the lists.
      CPU_MIXED_PRECISION_LISTS.forEach((k, v) -> {
        if (env.get(k) == null) {
          out.put(k, v);
        }
      });
    }
    return out;
  }

  /**
   * Sends each process SIGTERM (so a training child saves its checkpoint), then waits for all:
   * what a shutdown hook of a parent JVM does with its children.
   */
  public static void stopAndWait(List<Process> processes) {
    processes.forEach(Process::destroy);
    for (Process p : processes) {
      try {
        p.waitFor();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  /** The child's command line. */
  public static List<String> command(String javaHome, List<String> jvmArgs, String classPath,
      String mainClass, String[] args) {
    List<String> cmd = new ArrayList<>();
    cmd.add(Path.of(javaHome, "bin", "java").toString());
    cmd.addAll(jvmArgs);
    cmd.add("-cp");
    cmd.add(classPath);
    cmd.add(mainClass);
    cmd.addAll(Arrays.asList(args));
    return cmd;
  }

  /**
   * The application's class path: the URLs of the context class loader when it is a
   * {@code URLClassLoader} (as under {@code mvn exec:java}), then {@code java.class.path}.
   */
  public static String classPath() {
    LinkedHashSet<String> entries = new LinkedHashSet<>();
    // Only the context loader itself: its parents may be Maven's own class realms.
    ClassLoader cl = Thread.currentThread().getContextClassLoader();
    {
      if (cl instanceof URLClassLoader u) {
        for (URL url : u.getURLs()) {
          try {
            entries.add(Path.of(url.toURI()).toString());
          } catch (URISyntaxException | IllegalArgumentException e) {
            // not a file URL: skip
          }
        }
      }
    }
    String cp = System.getProperty("java.class.path");
    if (entries.isEmpty() && cp != null) {
      entries.addAll(Arrays.asList(cp.split(File.pathSeparator)));
    }
    return String.join(File.pathSeparator, entries);
  }
}
