package dev.selfie.data;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;

/** Validates a dataset and counts its examples per split and class ({@code selfie data inspect}). */
public final class DatasetInspection {

  private DatasetInspection() {}

  /**
   * What an inspection reports.
   *
   * @param countsPerClass per split, examples per class
   * @param nativeShape {@code [H, W, C]} on disk
   * @param inputShape {@code [S, S, C]} model input
   * @param unlabeled per split, images without a label (a folder's unlabeled images, label -1)
   */
  public record Result(
      String dataset,
      String location,
      Map<String, Integer> counts,
      Map<String, int[]> countsPerClass,
      List<String> classNames,
      int[] nativeShape,
      int[] inputShape,
      float[] mean,
      float[] std,
      Map<String, Integer> unlabeled,
      List<String> warnings) {}

  /** Opens (validates) the dataset and counts its examples per split and class. */
  public static Result inspect(String dataset, Path dataDir) throws IOException {
    return inspect(dataset, dataDir, OpenOptions.DEFAULT);
  }

  /**
   * {@link #inspect(String, Path)} with open options (image size, unlabeled folder). Images
   * without a label (a folder's unlabeled images, label -1) are counted in {@code unlabeled}.
   */
  public static Result inspect(String dataset, Path dataDir, OpenOptions options)
      throws IOException {
    ImageSource src = Datasets.open(dataset, dataDir, options);
    DatasetSpec s = src.spec();
    Map<String, Integer> counts = new LinkedHashMap<>();
    Map<String, int[]> perClass = new LinkedHashMap<>();
    Map<String, Integer> unlabeled = new LinkedHashMap<>();
    for (Split split : Split.values()) {
      int[] labels = src.labels(split);
      counts.put(split.id(), labels.length);
      int[] labeled = IntStream.range(0, labels.length).filter(i -> labels[i] >= 0).toArray();
      perClass.put(split.id(), LabelFractions.countsPerClass(labels, labeled, s.numClasses()));
      unlabeled.put(split.id(), labels.length - labeled.length);
    }
    return new Result(
        s.name(), src.location().toString(), counts, perClass, s.classNames(),
        new int[] {s.height(), s.width(), s.channels()},
        new int[] {s.imageSize(), s.imageSize(), s.channels()},
        s.mean(), s.std(), unlabeled, src.warnings());
  }
}
