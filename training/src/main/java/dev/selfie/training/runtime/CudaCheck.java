package dev.selfie.training.runtime;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Why TensorFlow's GPU build sees no GPU, found without loading anything: TensorFlow 2.18 opens
 * the NVIDIA driver and the CUDA libraries with {@code dlopen} when its first session starts and,
 * when one is missing, registers no GPU (with a warning that {@code TF_CPP_MIN_LOG_LEVEL=2}
 * hides). This class looks for the same shared objects where {@code dlopen} looks ({@code
 * LD_LIBRARY_PATH}, the {@code ld.so} cache, {@code /lib64 /usr/lib64 /lib /usr/lib}), reads
 * their versions from the file names the sonames point to ({@code libcudnn.so.9 ->
 * libcudnn.so.9.3.0}), and also looks in the usual CUDA install directories, so that a library
 * that exists but is not on the loader's path is reported as such.
 *
 * <p>Versions: TensorFlow 2.18 is built against CUDA 12.5 and cuDNN 9.3; an older cuDNN 9.x
 * aborts at the first convolution.
 */
public final class CudaCheck {
  private CudaCheck() {}

  public static final String CUDA_MIN = "12.5";
  public static final String CUDNN_MIN = "9.3";
  /** NVIDIA's minimum Linux driver for CUDA 12.x (minor version compatibility). */
  public static final String DRIVER_MIN = "525.60.13";

  /**
   * One shared object TensorFlow opens.
   *
   * @param what e.g. {@code cuDNN}
   * @param soname e.g. {@code libcudnn.so.9}
   * @param minVersion minimum version, checked against the resolved file name (null: any)
   * @param required TensorFlow registers no GPU without it (false: only some features need it)
   */
  public record Library(String what, String soname, String minVersion, boolean required) {}

  /**
   * What TensorFlow 2.18's GPU build opens (the driver, CUDA 12 runtime and math libraries, cuDNN
   * 9): TensorFlow Java's {@code linux-x86_64-gpu} libraries link none of them (no NEEDED entry,
   * checked with readelf) and {@code dlopen} them at the first session; NCCL is compiled into
   * {@code libtensorflow_cc} (its plugin loader's strings are there), so no {@code libnccl} is
   * needed.
   */
  public static final List<Library> LIBRARIES = List.of(
      new Library("NVIDIA driver library", "libcuda.so.1", null, true),
      new Library("CUDA runtime", "libcudart.so.12", CUDA_MIN, true),
      new Library("cuBLAS", "libcublas.so.12", null, true),
      new Library("cuBLASLt", "libcublasLt.so.12", null, true),
      new Library("cuFFT", "libcufft.so.11", null, true),
      new Library("cuSOLVER", "libcusolver.so.11", null, true),
      new Library("cuSPARSE", "libcusparse.so.12", null, true),
      new Library("cuDNN", "libcudnn.so.9", CUDNN_MIN, true),
      new Library("CUPTI (profiler)", "libcupti.so.12", null, false));

  /**
   * Where a library was looked for and what was found.
   *
   * @param path the file on the loader's path, if any
   * @param version version from the resolved file name, or null when unknown
   * @param elsewhere a copy outside the loader's path (e.g. {@code /usr/local/cuda/lib64}), if any
   */
  public record Found(Library library, Optional<Path> path, String version, Optional<Path> elsewhere) {
    /** Loadable and new enough (an unknown version passes). */
    public boolean ok() {
      return path.isPresent() && (library.minVersion() == null || version == null
          || compareVersions(version, library.minVersion()) >= 0);
    }

    /** One line: {@code cuDNN libcudnn.so.9: /usr/lib/x86_64-linux-gnu/libcudnn.so.9 (9.3.0)}. */
    public String describe() {
      String head = library.what() + " " + library.soname() + ": ";
      if (path.isEmpty()) {
        return head + "NOT FOUND on the loader's path" + elsewhere.map(
            p -> " (a copy is in " + p.getParent() + ": add that to LD_LIBRARY_PATH)").orElse("")
            + (library.minVersion() != null ? "; need >= " + library.minVersion() : "");
      }
      String v = version == null ? "version unknown" : version;
      String s = head + path.get() + " (" + v + ")";
      if (!ok()) {
        s += " TOO OLD: need >= " + library.minVersion();
      }
      return s;
    }
  }

  /**
   * The machine as the check sees it: environment, the {@code ld.so} cache's directories, the
   * NVIDIA driver's {@code /proc} file and the file system root (tests pass a temp directory).
   */
  public record Machine(Map<String, String> env, List<Path> ldCacheDirs, Optional<String> driverProc,
      List<Path> systemDirs, List<Path> cudaDirs) {

    /** This machine. */
    public static Machine current() {
      Optional<String> proc;
      try {
        Path p = Path.of("/proc/driver/nvidia/version");
        proc = Files.isReadable(p) ? Optional.of(Files.readString(p)) : Optional.empty();
      } catch (IOException e) {
        proc = Optional.empty();
      }
      List<Path> cuda = new ArrayList<>();
      for (String k : List.of("CUDA_HOME", "CUDA_PATH", "CUDA_DIR")) {
        String v = System.getenv(k);
        if (v != null && !v.isBlank()) {
          cuda.add(Path.of(v));
        }
      }
      cuda.add(Path.of("/usr/local/cuda"));
      for (String minor : List.of("12.9", "12.8", "12.6", "12.5", "12.4", "12.3", "12.2", "12.1",
          "12.0")) {
        cuda.add(Path.of("/usr/local/cuda-" + minor));
      }
      cuda.add(Path.of("/usr/lib/cuda"));
      return new Machine(System.getenv(), ldCache(), proc,
          List.of(Path.of("/lib64"), Path.of("/usr/lib64"), Path.of("/lib"), Path.of("/usr/lib"),
              Path.of("/lib/x86_64-linux-gnu"), Path.of("/usr/lib/x86_64-linux-gnu")),
          cuda);
    }

    /** Directories listed by {@code ldconfig -p} (empty when ldconfig is not available). */
    static List<Path> ldCache() {
      LinkedHashSet<Path> dirs = new LinkedHashSet<>();
      for (String exe : List.of("/sbin/ldconfig", "/usr/sbin/ldconfig")) {
        if (!Files.isExecutable(Path.of(exe))) {
          continue;
        }
        try {
          Process p = new ProcessBuilder(exe, "-p").redirectErrorStream(true).start();
          String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
          p.waitFor(10, TimeUnit.SECONDS);
          for (String line : out.split("\n")) {
            int arrow = line.indexOf("=> ");
            if (arrow > 0) {
              Path parent = Path.of(line.substring(arrow + 3).trim()).getParent();
              if (parent != null) {
                dirs.add(parent);
              }
            }
          }
          break;
        } catch (IOException e) {
          // try the next location
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          break;
        }
      }
      return List.copyOf(dirs);
    }

    /** dlopen's search order for a bare soname (no RPATH of ours). */
    List<Path> loaderPath() {
      LinkedHashSet<Path> dirs = new LinkedHashSet<>();
      String ld = env.getOrDefault("LD_LIBRARY_PATH", "");
      for (String d : ld.split(":")) {
        if (!d.isBlank()) {
          dirs.add(Path.of(d));
        }
      }
      dirs.addAll(ldCacheDirs);
      dirs.addAll(systemDirs);
      return List.copyOf(dirs);
    }
  }

  /** The whole picture: driver, libraries, XLA's CUDA directory. */
  public record Report(Optional<String> driverVersion, List<Found> libraries,
      Optional<Path> cudaDataDir, Optional<Path> ptxas, String ldLibraryPath) {

    /** Every required library is loadable and new enough, and a driver is loaded. */
    public boolean ok() {
      return driverVersion.isPresent()
          && libraries.stream().filter(f -> f.library().required()).allMatch(Found::ok);
    }

    /** The problems, one per line; empty when {@link #ok()}. */
    public List<String> problems() {
      List<String> out = new ArrayList<>();
      if (driverVersion.isEmpty()) {
        out.add("no NVIDIA kernel driver loaded (/proc/driver/nvidia/version is missing): install"
            + " the NVIDIA driver (>= " + DRIVER_MIN + " for CUDA 12), or run in a container with"
            + " GPU access (docker --gpus all)");
      } else if (compareVersions(driverVersion.get(), DRIVER_MIN) < 0) {
        out.add("NVIDIA driver " + driverVersion.get() + " is older than " + DRIVER_MIN
            + ", the minimum for CUDA 12");
      }
      for (Found f : libraries) {
        if (f.library().required() && !f.ok()) {
          out.add(f.describe());
        }
      }
      return out;
    }

    /** The reason for the "no GPU" error: what is missing and where it was looked for. */
    public String explain() {
      List<String> p = problems();
      StringBuilder s = new StringBuilder();
      if (p.isEmpty()) {
        s.append("the driver and the CUDA/cuDNN libraries were all found, yet TensorFlow lists no"
            + " GPU: check nvidia-smi, CUDA_VISIBLE_DEVICES, and run with TF_CPP_MIN_LOG_LEVEL=0"
            + " to see TensorFlow's own messages");
      } else {
        s.append(String.join("; ", p));
      }
      s.append(". TensorFlow 2.18 needs CUDA >= ").append(CUDA_MIN).append(" and cuDNN >= ")
          .append(CUDNN_MIN).append(" (libraries searched in LD_LIBRARY_PATH=")
          .append(ldLibraryPath.isEmpty() ? "(unset)" : ldLibraryPath)
          .append(", the ld.so cache, /lib64, /usr/lib64, /lib, /usr/lib)");
      return s.toString();
    }
  }

  /** Checks this machine. */
  public static Report check() {
    return check(Machine.current());
  }

  /** Checks {@code m}. */
  public static Report check(Machine m) {
    List<Found> found = new ArrayList<>();
    List<Path> loader = m.loaderPath();
    for (Library lib : LIBRARIES) {
      Optional<Path> at = Optional.empty();
      for (Path d : loader) {
        Path f = d.resolve(lib.soname());
        if (Files.exists(f)) {
          at = Optional.of(f);
          break;
        }
      }
      Optional<Path> elsewhere = Optional.empty();
      if (at.isEmpty()) {
        for (Path c : m.cudaDirs()) {
          for (String sub : List.of("lib64", "lib", "targets/x86_64-linux/lib")) {
            Path f = c.resolve(sub).resolve(lib.soname());
            if (elsewhere.isEmpty() && Files.exists(f)) {
              elsewhere = Optional.of(f);
            }
          }
        }
      }
      found.add(new Found(lib, at, at.map(p -> versionOf(p, lib.soname())).orElse(null),
          elsewhere));
    }
    Optional<String> driver = m.driverProc().map(CudaCheck::driverVersion);
    if (driver.isPresent() && driver.get() == null) {
      driver = Optional.of("unknown");
    }
    Optional<Path> dataDir = cudaDataDir(m);
    Optional<Path> ptxas = findPtxas(m, dataDir);
    return new Report(driver, found, dataDir, ptxas, m.env().getOrDefault("LD_LIBRARY_PATH", ""));
  }

  /**
   * The version a soname resolves to: {@code libcudnn.so.9 -> libcudnn.so.9.3.0} gives {@code
   * 9.3.0}; the driver's {@code libcuda.so.1 -> libcuda.so.550.54.15} gives the driver version.
   * Null when the link does not name a longer version.
   */
  static String versionOf(Path soname, String name) {
    try {
      String real = soname.toRealPath().getFileName().toString();
      String base = name.substring(0, name.indexOf(".so") + 3); // libcudnn.so
      if (real.startsWith(base + ".")) {
        String v = real.substring(base.length() + 1);
        String major = name.substring(base.length() + 1);
        return v.equals(major) ? null : v;
      }
      return null;
    } catch (IOException e) {
      return null;
    }
  }

  private static final Pattern DRIVER = Pattern.compile("Kernel Module\\s+(?:for\\s+\\S+\\s+)?"
      + "(\\d+\\.\\d+(?:\\.\\d+)?)");

  /** The version in {@code /proc/driver/nvidia/version} ("NVRM version: ... Kernel Module  550.54.15 ..."). */
  public static String driverVersion(String proc) {
    Matcher m = DRIVER.matcher(proc);
    return m.find() ? m.group(1) : null;
  }

  /**
   * The CUDA directory XLA needs on a GPU ({@code nvvm/libdevice/libdevice.10.bc} below it):
   * the one named in {@code XLA_FLAGS=--xla_gpu_cuda_data_dir=...}, else the first CUDA install
   * directory that has it.
   */
  static Optional<Path> cudaDataDir(Machine m) {
    String flags = m.env().getOrDefault("XLA_FLAGS", "");
    Matcher f = Pattern.compile("--xla_gpu_cuda_data_dir=(\\S+)").matcher(flags);
    List<Path> candidates = new ArrayList<>();
    if (f.find()) {
      candidates.add(Path.of(f.group(1)));
    }
    candidates.addAll(m.cudaDirs());
    for (Path c : candidates) {
      if (Files.isRegularFile(c.resolve("nvvm/libdevice/libdevice.10.bc"))) {
        return Optional.of(c);
      }
    }
    return Optional.empty();
  }

  static Optional<Path> findPtxas(Machine m, Optional<Path> dataDir) {
    List<Path> dirs = new ArrayList<>();
    dataDir.ifPresent(d -> dirs.add(d.resolve("bin")));
    for (String d : m.env().getOrDefault("PATH", "").split(":")) {
      if (!d.isBlank()) {
        dirs.add(Path.of(d));
      }
    }
    for (Path c : m.cudaDirs()) {
      dirs.add(c.resolve("bin"));
    }
    return dirs.stream().map(d -> d.resolve("ptxas")).filter(Files::isExecutable).findFirst();
  }

  /** Compares dotted versions numerically ({@code 9.10 > 9.3}); missing parts count as 0. */
  public static int compareVersions(String a, String b) {
    String[] x = a.split("\\.");
    String[] y = b.split("\\.");
    for (int i = 0; i < Math.max(x.length, y.length); i++) {
      long p = i < x.length ? leadingNumber(x[i]) : 0;
      long q = i < y.length ? leadingNumber(y[i]) : 0;
      if (p != q) {
        return Long.compare(p, q);
      }
    }
    return 0;
  }

  private static long leadingNumber(String s) {
    int i = 0;
    while (i < s.length() && Character.isDigit(s.charAt(i))) {
      i++;
    }
    return i == 0 ? 0 : Long.parseLong(s.substring(0, Math.min(i, 18)));
  }
}
