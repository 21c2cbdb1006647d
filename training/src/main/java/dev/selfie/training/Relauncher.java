package dev.selfie.training;

import java.io.File;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.net.URISyntaxException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;

/**
 * Makes sure {@code TF_XLA_FLAGS} is in the environment before TensorFlow's native library loads
 * when {@code --xla} is given: the {@code ./selfie} launcher exports it itself; under
 * {@code mvn exec:java} (or a plain {@code java} command) {@link #ensureXlaEnv} re-executes the
 * program in a child JVM with the variable set, inheriting stdin/stdout/stderr, and exits with the
 * child's exit code. Call it first thing in {@code main}, before any TensorFlow class is used.
 *
 * <p>Note: {@link SessionConfigs#configProto} also turns on CPU JIT in-process
 * ({@code cpu_global_jit}), which was measured to compile clusters without the variable; the
 * variable additionally covers sessions created without that config.
 */
public final class Relauncher {
  private Relauncher() {}

  public static final String ENV = "TF_XLA_FLAGS";
  public static final String XLA_FLAGS = "--tf_xla_auto_jit=2 --tf_xla_cpu_global_jit";
  /** Set in the child so it never relaunches again. */
  public static final String MARKER = "SELFIE_XLA_RELAUNCHED";
  public static final String DEFAULT_MAIN = "dev.selfie.training.cli.Main";

  /** {@link #ensureXlaEnv(String[], String)} for the selfie CLI main class. */
  public static void ensureXlaEnv(String[] args) {
    ensureXlaEnv(args, DEFAULT_MAIN);
  }

  /**
   * Returns if no relaunch is needed; otherwise runs {@code java <same JVM options> -cp <same
   * class path> mainClass args} with {@code TF_XLA_FLAGS} set and calls {@code System.exit} with
   * its exit code.
   */
  public static void ensureXlaEnv(String[] args, String mainClass) {
    if (!needsRelaunch(args, System.getenv())) {
      return;
    }
    List<String> cmd = command(System.getProperty("java.home"),
        ManagementFactory.getRuntimeMXBean().getInputArguments(), classPath(), mainClass, args);
    ProcessBuilder pb = new ProcessBuilder(cmd).inheritIO();
    pb.environment().put(ENV, XLA_FLAGS);
    pb.environment().put(MARKER, "1");
    int code;
    try {
      Process p = pb.start();
      code = p.waitFor();
    } catch (IOException e) {
      throw new IllegalStateException("--xla: cannot re-launch java with " + ENV + " set ("
          + e.getMessage() + "); set " + ENV + "=\"" + XLA_FLAGS + "\" yourself", e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      code = 130;
    }
    System.exit(code);
  }

  /** True when {@code --xla} is an argument, the flags are not set and this is not the child. */
  public static boolean needsRelaunch(String[] args, Map<String, String> env) {
    boolean xla = Arrays.asList(args).contains("--xla");
    String flags = env.get(ENV);
    boolean set = flags != null && flags.contains("--tf_xla_cpu_global_jit");
    return xla && !set && env.get(MARKER) == null;
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
  static String classPath() {
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
