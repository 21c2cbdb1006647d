package dev.selfie.data.formats;

import dev.selfie.data.BadDataException;
import dev.selfie.data.Datasets;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Names of the 1000 ImageNet classes for labels 1..1000 (stored 0..999). Looked up in the dataset
 * directory: {@code class_names.txt} (1000 lines, label order), else {@code map_clsloc.txt} (the
 * file shipped with downsampled ImageNet: {@code wnid label name} per line), else generic names
 * {@code class_1}..{@code class_1000}. ImageNet normalisation constants (mean/std of the [0,1]
 * training pixels, the widely published values).
 */
public final class ImageNetClasses {
  private ImageNetClasses() {}

  public static final int COUNT = 1000;
  public static final float[] MEAN = {0.485f, 0.456f, 0.406f};
  public static final float[] STD = {0.229f, 0.224f, 0.225f};

  public static List<String> generic() {
    List<String> names = new ArrayList<>(COUNT);
    for (int i = 1; i <= COUNT; i++) {
      names.add("class_" + i);
    }
    return names;
  }

  /** The class names found in {@code dir} (see the class comment), or the generic ones. */
  public static List<String> find(Path dir) throws IOException {
    Path plain = dir.resolve("class_names.txt");
    if (Files.isRegularFile(plain)) {
      List<String> names = Files.readAllLines(plain, StandardCharsets.UTF_8).stream().map(String::strip).filter(s -> !s.isEmpty()).toList();
      if (names.size() != COUNT) {
        throw new BadDataException(plain + ": expected " + COUNT + " class names (one a line, label order), found " + names.size());
      }
      return names;
    }
    Path map = dir.resolve("map_clsloc.txt");
    if (Files.isRegularFile(map)) {
      String[] names = new String[COUNT];
      for (String line : Files.readAllLines(map, StandardCharsets.UTF_8)) {
        if (line.isBlank()) {
          continue;
        }
        String[] f = line.strip().split("\\s+");
        int label;
        try {
          label = Integer.parseInt(f[1]);
        } catch (RuntimeException e) {
          throw new BadDataException(map + ": line '" + line + "' is not 'wnid label name'");
        }
        if (f.length < 3 || label < 1 || label > COUNT || names[label - 1] != null) {
          throw new BadDataException(map + ": line '" + line + "' is not 'wnid label(1-1000, unique) name'");
        }
        names[label - 1] = f[2];
      }
      for (int i = 0; i < COUNT; i++) {
        if (names[i] == null) {
          throw new BadDataException(map + ": no line for label " + (i + 1));
        }
      }
      return List.of(names);
    }
    return generic();
  }

  /** Where derived files (indices, unpacked arrays) of the dataset in {@code dir} are cached. */
  static Path cacheDir(Path dir, String dataset) throws IOException {
    Path local = dir.resolve(".selfie-cache");
    if (Files.isDirectory(local) && Files.isWritable(local)) {
      return local;
    }
    if (Files.isWritable(dir)) {
      return Files.createDirectories(local);
    }
    String key = Integer.toHexString(dir.toAbsolutePath().normalize().toString().hashCode());
    return Files.createDirectories(Datasets.dataHome(null).resolve("cache").resolve(dataset + "-" + key));
  }
}
