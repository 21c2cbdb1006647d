package dev.selfie.training.runtime;

import java.net.URL;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.bytedeco.javacpp.Loader;
import org.tensorflow.TensorFlow;

/**
 * Which TensorFlow native library this process runs: the classifier of the {@code
 * tensorflow-core-native} jar ({@code linux-x86_64} = CPU build, {@code linux-x86_64-gpu} = CUDA
 * build) whose {@code libjnitensorflow} JavaCPP loaded. TensorFlow Java supports exactly one on the
 * class path; JavaCPP tries the {@code -gpu} variant first, so with both present a GPU build would
 * load where its CUDA libraries happen to resolve and the CPU build elsewhere.
 *
 * @param classifier e.g. {@code linux-x86_64}, {@code linux-x86_64-gpu}
 * @param path the loaded {@code libjnitensorflow} (JavaCPP's cache), or the class path resource
 */
public record NativeLibrary(String classifier, String path) {

  /** The native classifiers TensorFlow Java 1.1.0 publishes. */
  public static final List<String> CLASSIFIERS = List.of("linux-x86_64", "linux-x86_64-gpu",
      "linux-arm64", "macosx-arm64", "macosx-x86_64", "windows-x86_64");

  static final String RESOURCE_DIR = "org/tensorflow/internal/c_api/";

  /** The CUDA build. */
  public boolean gpu() {
    return classifier.endsWith("-gpu");
  }

  /** {@code linux-x86_64-gpu (GPU build)} or {@code linux-x86_64 (CPU build)}. */
  public String describe() {
    return classifier + (gpu() ? " (GPU build, needs CUDA >= " + CudaCheck.CUDA_MIN
        + ", cuDNN >= " + CudaCheck.CUDNN_MIN + ")" : " (CPU build)");
  }

  /** Classifiers whose native library is on {@code loader}'s class path (more than one is an error). */
  public static List<String> onClasspath(ClassLoader loader) {
    List<String> out = new ArrayList<>();
    for (String c : CLASSIFIERS) {
      URL u = loader.getResource(RESOURCE_DIR + c + "/");
      if (u == null) {
        u = loader.getResource(RESOURCE_DIR + c + "/LICENSE");
      }
      if (u != null) {
        out.add(c);
      }
    }
    return out;
  }

  /**
   * The library this process loaded (loads it if needed). Fails when more than one native
   * library is on the class path.
   */
  public static NativeLibrary loaded() {
    List<String> present = onClasspath(NativeLibrary.class.getClassLoader());
    if (present.size() > 1) {
      throw new IllegalStateException("TensorFlow native libraries " + present + " are all on the"
          + " class path; TensorFlow Java supports exactly one: rebuild (mvn -B -DskipTests install,"
          + " with -Pgpu for the GPU build)");
    }
    TensorFlow.version(); // loads the native library
    for (Map.Entry<String, String> e : Loader.getLoadedLibraries().entrySet()) {
      String c = classifierOf(e.getValue());
      if (c != null && e.getValue().contains("jnitensorflow")) {
        return new NativeLibrary(c, e.getValue());
      }
    }
    if (present.size() == 1) {
      return new NativeLibrary(present.get(0), "class path");
    }
    return new NativeLibrary("unknown", "no tensorflow-core-native library found");
  }

  /** The classifier directory a loaded file sits in ({@code .../c_api/<classifier>/lib...}). */
  static String classifierOf(String path) {
    if (path == null) {
      return null;
    }
    Path p = Path.of(path).getParent();
    if (p == null || p.getFileName() == null) {
      return null;
    }
    String dir = p.getFileName().toString();
    return CLASSIFIERS.contains(dir) ? dir : null;
  }
}
