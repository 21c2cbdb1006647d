package dev.selfie.data;

import java.nio.file.Path;
import org.tensorflow.op.Ops;

/**
 * An opened dataset on disk, validated on open (files present, sizes, magic numbers, labels in
 * range). Cheap facts (sizes, labels) are read in Java; pixels are read only in-graph ({@link
 * #examples}), never copied through Java arrays.
 */
public interface ImageSource {

  /** Static facts (shape, classes, normalisation constants). */
  DatasetSpec spec();

  /** The directory the files were found in. */
  Path location();

  /**
   * Labels of each split in file order, as read on open (the sources' record component); callers
   * use {@link #labels} (a copy) and {@link #size}.
   */
  java.util.Map<Split, int[]> labelsBySplit();

  /** Number of examples in {@code split}. */
  default int size(Split split) {
    return labelsBySplit().get(split).length;
  }

  /**
   * Labels of {@code split} in file order, {@code [N]} with values in {@code 0..numClasses-1}
   * ({@code -1} for the unlabeled images of a folder dataset's training split).
   */
  default int[] labels(Split split) {
    return labelsBySplit().get(split).clone();
  }

  /**
   * Builds, in {@code tf}'s graph, ops that read all examples of {@code split} from the files, in
   * file order: images {@code [N, H, W, C]} uint8 and labels {@code [N]} int32. Used by
   * {@link dev.selfie.data.pipeline.Pipelines Pipelines} (in the init scope: the files are read
   * when the iterator is (re)made).
   */
  ExampleTable examples(Ops tf, Split split);

  /**
   * Problems found on open that did not stop it, e.g. files of a folder that are not readable
   * images and were skipped ("skipped 3 of 120 files: ..."). Empty for most datasets.
   */
  default java.util.List<String> warnings() {
    return java.util.List.of();
  }
}
