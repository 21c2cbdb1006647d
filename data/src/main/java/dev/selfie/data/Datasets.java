package dev.selfie.data;

import dev.selfie.data.formats.Cifar10;
import dev.selfie.data.formats.FashionMnist;
import dev.selfie.data.formats.ImageFolder;
import dev.selfie.data.formats.ImageNet32;
import dev.selfie.data.formats.ImageNet;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The dataset registry and the data home.
 *
 * <p>Data home: {@code --data-dir} if given, else {@code $SELFIE_DATA}, else {@code
 * ~/.cache/selfie}. Each dataset lives in {@code <data home>/<name>/} (Fashion-MNIST is first
 * looked up in the Debian location when no directory is given).
 */
public final class Datasets {
  private Datasets() {}

  /** Registered datasets by name, in listing order. Add new providers here. */
  static final Map<String, DatasetProvider> REGISTRY = new LinkedHashMap<>();

  static {
    register(new Cifar10());
    register(new FashionMnist());
    register(new ImageNet32());
    register(new ImageNet());
    register(new ImageFolder());
  }

  private static void register(DatasetProvider p) {
    REGISTRY.put(p.name(), p);
  }

  /** Registered dataset names. */
  public static List<String> names() {
    return List.copyOf(REGISTRY.keySet());
  }

  /** The provider of {@code name}; IllegalArgumentException naming the known ones otherwise. */
  public static DatasetProvider provider(String name) {
    DatasetProvider p = REGISTRY.get(name);
    if (p == null) {
      throw new IllegalArgumentException("unknown dataset '" + name + "', expected one of " + names());
    }
    return p;
  }

  /** Static facts of {@code name} (no files needed). */
  public static DatasetSpec spec(String name) {
    return provider(name).spec();
  }

  /**
   * Finds, opens and validates dataset {@code name}.
   *
   * @param dataDirOrNull the data home (or the directory holding the files), or null for the
   *     defaults
   */
  public static ImageSource open(String name, Path dataDirOrNull) throws IOException {
    return provider(name).open(dataDirOrNull);
  }

  /**
   * {@link #open(String, Path)} with options: the model's image size (for {@code imagenet} and
   * {@code folder}, whose images are resized to it) and, for {@code folder}, an unlabeled directory.
   */
  public static ImageSource open(String name, Path dataDirOrNull, OpenOptions options) throws IOException {
    return provider(name).open(dataDirOrNull, options == null ? OpenOptions.DEFAULT : options);
  }

  /** {@code dataDirOrNull}, else {@code $SELFIE_DATA}, else {@code ~/.cache/selfie}. */
  public static Path dataHome(Path dataDirOrNull) {
    if (dataDirOrNull != null) {
      return dataDirOrNull;
    }
    String env = System.getenv("SELFIE_DATA");
    if (env != null && !env.isBlank()) {
      return Path.of(env);
    }
    return Path.of(System.getProperty("user.home"), ".cache", "selfie");
  }
}
