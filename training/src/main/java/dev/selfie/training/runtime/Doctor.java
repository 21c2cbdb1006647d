package dev.selfie.training.runtime;

import dev.selfie.data.Datasets;
import dev.selfie.data.ImageSource;
import dev.selfie.data.Split;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.TreeSet;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.TensorFlow;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;

/**
 * {@code selfie doctor}: what this machine and build will run on, and what is missing. The first
 * thing to run when a GPU is not used. Each check gives a status ({@code ok}, {@code info},
 * {@code warn}, {@code FAIL}); FAIL means a run would stop or misbehave (two native libraries on
 * the class path; the GPU library without a usable GPU).
 */
public final class Doctor {
  private Doctor() {}

  /** Check status. */
  public enum Status { OK, INFO, WARN, FAIL }

  /**
   * One check.
   *
   * @param name e.g. {@code native library}
   * @param status result
   * @param detail what was found, and for WARN/FAIL what to do
   */
  public record Check(String name, Status status, String detail) {
    public String line() {
      String s = status == Status.FAIL ? "FAIL" : status.name().toLowerCase(Locale.ROOT);
      return String.format("%-4s  %-18s %s", s, name, detail);
    }
  }

  /** All checks, in order. */
  public record Report(List<Check> checks) {
    public boolean failed() {
      return checks.stream().anyMatch(c -> c.status() == Status.FAIL);
    }

    public Check get(String name) {
      return checks.stream().filter(c -> c.name().equals(name)).findFirst().orElseThrow();
    }
  }

  /** CPU flags that decide the fast kernels (from {@code /proc/cpuinfo}). */
  static final List<String> CPU_FLAGS = List.of("avx2", "avx512f", "avx512_bf16", "amx_bf16",
      "amx_tile");

  /**
   * Runs every check.
   *
   * @param dataDir {@code --data-dir} or null
   * @param cpuinfo the contents of {@code /proc/cpuinfo} (empty when unreadable)
   */
  public static Report run(Path dataDir, String cpuinfo, CudaCheck.Report cuda) {
    List<Check> out = new ArrayList<>();
    out.add(new Check("tensorflow", Status.INFO, "TensorFlow " + TensorFlow.version()
        + " (TensorFlow Java 1.1.0), Java " + System.getProperty("java.version")));

    List<String> natives = NativeLibrary.onClasspath(Doctor.class.getClassLoader());
    NativeLibrary lib = null;
    if (natives.size() > 1) {
      out.add(new Check("native library", Status.FAIL, "several on the class path: " + natives
          + "; TensorFlow Java supports exactly one: rebuild (./selfie rebuilds when its stamp"
          + " changes; mvn -B -DskipTests install [-Pgpu])"));
    } else {
      lib = NativeLibrary.loaded();
      out.add(new Check("native library", Status.OK, lib.describe() + ", " + lib.path()));
    }

    boolean requested = SessionConfigs.onednnRequested();
    boolean active = SessionConfigs.onednnActive();
    out.add(new Check("oneDNN", active || !requested ? Status.OK : Status.WARN,
        (active ? "on" : "off") + " (" + Relauncher.ONEDNN_ENV + "="
            + System.getenv().getOrDefault(Relauncher.ONEDNN_ENV, "unset") + ")"
            + (requested && !active ? ": requested but the probe convolution ran without it" : "")));

    Set<String> flags = cpuFlags(cpuinfo);
    String model = cpuModel(cpuinfo);
    List<String> have = CPU_FLAGS.stream().filter(flags::contains).toList();
    List<String> lack = CPU_FLAGS.stream().filter(f -> !flags.contains(f)).toList();
    out.add(new Check("cpu", Status.INFO, (model.isEmpty() ? "" : model + ", ")
        + "cores available: " + Runtime.getRuntime().availableProcessors() + "; has " + have
        + ", lacks " + lack
        + (flags.contains("avx512_bf16") || flags.contains("amx_bf16")
            ? " (bfloat16 kernels usable)" : " (no bfloat16 speedup on this CPU)")));

    List<Devices.Device> devices = Devices.list();
    long gpus = devices.stream().filter(d -> d.type().equals("GPU")).count();
    String listed = devices.stream().map(d -> Devices.shortName(d.name()))
        .reduce((a, b) -> a + ", " + b).orElse("none");
    if (gpus > 0) {
      out.add(new Check("gpus", Status.OK, gpus + " visible (" + listed + ")"));
    } else if (lib != null && lib.gpu()) {
      out.add(new Check("gpus", Status.FAIL, "none visible with TensorFlow's GPU library: "
          + cuda.explain()));
    } else {
      out.add(new Check("gpus", Status.INFO, "none used: CPU build of TensorFlow (for GPUs build"
          + " with -Pgpu: ./selfie -Pgpu ..., or SELFIE_MAVEN_ARGS=-Pgpu); devices " + listed));
    }
    boolean gpuBuild = lib != null && lib.gpu();
    out.add(new Check("nvidia driver", cuda.driverVersion().isPresent() ? Status.OK
        : gpuBuild ? Status.FAIL : Status.INFO,
        cuda.driverVersion().map(v -> "kernel module " + v + " (CUDA 12 needs >= "
            + CudaCheck.DRIVER_MIN + ")").orElse("not loaded (/proc/driver/nvidia/version"
            + " missing)")));
    for (CudaCheck.Found f : cuda.libraries()) {
      Status s = f.ok() ? Status.OK
          : gpuBuild && f.library().required() ? Status.FAIL : Status.INFO;
      out.add(new Check(f.library().what().split(" \\(")[0], s, f.describe()));
    }

    String xlaGpu = cuda.cudaDataDir().map(d -> "libdevice in " + d + (System.getenv()
            .getOrDefault("XLA_FLAGS", "").contains("--xla_gpu_cuda_data_dir") ? ""
            : "; set XLA_FLAGS=--xla_gpu_cuda_data_dir=" + d + " (./selfie does)"))
        .orElse("no CUDA nvvm/libdevice found (XLA on a GPU fails with 'libdevice not found':"
            + " install CUDA's nvvm, set XLA_FLAGS=--xla_gpu_cuda_data_dir=<cuda dir>)")
        + cuda.ptxas().map(p -> "; ptxas " + p).orElse("; no ptxas on PATH");
    boolean xlaCpu = xlaCompiles();
    out.add(new Check("xla", xlaCpu ? Status.OK : Status.WARN, "CPU JIT "
        + (xlaCpu ? "compiles" : "did not compile a test cluster") + "; GPU: " + xlaGpu));

    Path home = Datasets.dataHome(dataDir);
    out.add(new Check("data home", Files.isDirectory(home) ? Status.OK : Status.INFO, home
        + (Files.isDirectory(home) ? "" : " (does not exist yet)")
        + (dataDir == null ? " (--data-dir, else $SELFIE_DATA, else ~/.cache/selfie)" : "")));
    for (String name : Datasets.names()) {
      if (name.equals("folder")) {
        continue; // a user's directory, named per run
      }
      out.add(dataset(name, dataDir));
    }
    return new Report(out);
  }

  public static Check dataset(String name, Path dataDir) {
    try {
      ImageSource src = Datasets.open(name, dataDir);
      return new Check("dataset " + name, Status.OK, src.location() + ": "
          + src.size(Split.TRAIN) + " train, " + src.size(Split.TEST) + " test images"
          + (src.warnings().isEmpty() ? "" : "; " + String.join("; ", src.warnings())));
    } catch (IOException | RuntimeException e) {
      String m = String.valueOf(e.getMessage());
      int nl = m.indexOf('\n');
      return new Check("dataset " + name, Status.INFO, "not available: "
          + (nl > 0 ? m.substring(0, nl) : m));
    }
  }

  /** Whether a small matmul cluster compiles with the XLA session config on the CPU. */
  static boolean xlaCompiles() {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g).withDevice(Devices.modelDevice(false));
      Placeholder<TFloat32> x = tf.placeholder(TFloat32.class);
      Operand<TFloat32> y = tf.math.tanh(tf.linalg.matMul(x, x));
      Operand<TFloat32> z = tf.math.add(tf.math.mul(y, y), y);
      try (Session s = new Session(g, SessionConfigs.configProto(
              new SessionConfigs.Options(1, 1, true, false)));
          TFloat32 in = TFloat32.tensorOf(org.tensorflow.ndarray.Shape.of(4, 4));
          Result r = s.runner().feed(x, in).fetch(z).setOptions(Xla.traceOptions())
              .runAndFetchMetadata()) {
        return !Xla.clusters(r.getMetadata().orElseThrow()).isEmpty();
      }
    } catch (RuntimeException e) {
      return false;
    }
  }

  public static Set<String> cpuFlags(String cpuinfo) {
    TreeSet<String> out = new TreeSet<>();
    for (String line : cpuinfo.split("\n")) {
      if (line.startsWith("flags")) {
        int c = line.indexOf(':');
        for (String f : line.substring(c + 1).trim().split("\\s+")) {
          out.add(f);
        }
        break;
      }
    }
    return out;
  }

  public static String cpuModel(String cpuinfo) {
    for (String line : cpuinfo.split("\n")) {
      if (line.startsWith("model name")) {
        return line.substring(line.indexOf(':') + 1).trim();
      }
    }
    return "";
  }

  /** {@code /proc/cpuinfo}, or empty. */
  public static String cpuinfo() {
    try {
      return Files.readString(Path.of("/proc/cpuinfo"));
    } catch (IOException | RuntimeException e) {
      return "";
    }
  }
}
