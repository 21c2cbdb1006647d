package dev.selfie.data;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Arrays;

/**
 * The labelled examples of a run, saved with it as JSON so {@code --label-manifest FILE}
 * reproduces the run.
 *
 * @param dataset dataset name
 * @param split split the indices refer to (normally {@code train})
 * @param fraction the label fraction asked for
 * @param seed the selection seed
 * @param countsPerClass chosen examples per class, {@code [numClasses]}
 * @param indices chosen indices into the split, sorted ascending
 */
public record LabelManifest(
    String dataset, Split split, double fraction, long seed, int[] countsPerClass, int[] indices) {

  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  public LabelManifest {
    if (dataset == null || split == null || countsPerClass == null || indices == null) {
      throw new IllegalArgumentException("label manifest: dataset, split, countsPerClass and indices are required");
    }
    if (!(fraction > 0 && fraction <= 1)) {
      throw new IllegalArgumentException("label manifest: fraction must be in (0, 1], got " + fraction);
    }
    for (int i = 1; i < indices.length; i++) {
      if (indices[i] <= indices[i - 1]) {
        throw new IllegalArgumentException("label manifest: indices must be sorted and unique (at position " + i + ")");
      }
    }
    if (indices.length > 0 && indices[0] < 0) {
      throw new IllegalArgumentException("label manifest: negative index " + indices[0]);
    }
    if (Arrays.stream(countsPerClass).sum() != indices.length) {
      throw new IllegalArgumentException(
          "label manifest: countsPerClass sums to " + Arrays.stream(countsPerClass).sum() + " but there are "
              + indices.length + " indices");
    }
    countsPerClass = countsPerClass.clone();
    indices = indices.clone();
  }

  @Override
  public int[] countsPerClass() {
    return countsPerClass.clone();
  }

  @Override
  public int[] indices() {
    return indices.clone();
  }

  /** Selects {@code fraction} of {@code src}'s {@code split} (see {@link LabelFractions#select}). */
  public static LabelManifest create(ImageSource src, Split split, double fraction, long seed) {
    int[] labels = src.labels(split);
    int classes = src.spec().numClasses();
    int[] idx = LabelFractions.select(labels, classes, fraction, seed);
    return new LabelManifest(src.spec().name(), split, fraction, seed, LabelFractions.countsPerClass(labels, idx, classes), idx);
  }

  /**
   * Selects {@code fraction} of {@code src}'s {@code split} among the examples that are not in
   * {@code heldOut} (a validation split): per class {@code round(fraction * class size)} as in
   * {@link #create}, so the number of labels does not depend on the held-out split.
   */
  public static LabelManifest create(
      ImageSource src, Split split, double fraction, long seed, LabelManifest heldOut) {
    if (heldOut == null) {
      return create(src, split, fraction, seed);
    }
    if (heldOut.split() != split || !heldOut.dataset().equals(src.spec().name())) {
      throw new IllegalArgumentException("held-out split is " + heldOut.dataset() + " "
          + heldOut.split().id() + ", labels are drawn from " + src.spec().name() + " "
          + split.id());
    }
    int[] labels = src.labels(split);
    int classes = src.spec().numClasses();
    int[] idx = LabelFractions.select(labels, classes, fraction, seed, heldOut.indices);
    return new LabelManifest(src.spec().name(), split, fraction, seed,
        LabelFractions.countsPerClass(labels, idx, classes), idx);
  }

  /**
   * A class-balanced validation split of exactly {@code count} examples of {@code split} (the
   * training split), chosen by {@code seed} (see {@link LabelFractions#selectCount}). Finetuning
   * never trains on it; tuning decisions read its accuracy instead of the test set's.
   *
   * @param count examples to hold out, 1 &lt;= count &lt; size of the split
   */
  public static LabelManifest validation(ImageSource src, Split split, int count, long seed) {
    int size = src.size(split);
    if (count < 1 || count >= size) {
      throw new IllegalArgumentException("--validation must be in [1, " + (size - 1) + "] for "
          + src.spec().name() + " " + split.id() + " (" + size + " examples), got " + count);
    }
    int[] labels = src.labels(split);
    int classes = src.spec().numClasses();
    int[] idx = LabelFractions.selectCount(labels, classes, count, seed);
    return new LabelManifest(src.spec().name(), split, (double) count / size, seed,
        LabelFractions.countsPerClass(labels, idx, classes), idx);
  }

  /** True if no index of this manifest is in {@code other}. */
  public boolean disjointFrom(LabelManifest other) {
    int i = 0;
    int j = 0;
    while (i < indices.length && j < other.indices.length) {
      if (indices[i] == other.indices[j]) {
        return false;
      }
      if (indices[i] < other.indices[j]) {
        i++;
      } else {
        j++;
      }
    }
    return true;
  }

  /**
   * Checks the manifest against an opened dataset: same name, indices in range, counts per class
   * consistent with the labels.
   */
  public void validateAgainst(ImageSource src) {
    if (!dataset.equals(src.spec().name())) {
      throw new IllegalArgumentException("label manifest is for dataset " + dataset + ", not " + src.spec().name());
    }
    int n = src.size(split);
    if (indices.length > 0 && indices[indices.length - 1] >= n) {
      throw new IllegalArgumentException(
          "label manifest index " + indices[indices.length - 1] + " is out of range for " + dataset + " " + split.id() + " (" + n + " examples)");
    }
    int[] counts = LabelFractions.countsPerClass(src.labels(split), indices, src.spec().numClasses());
    if (!Arrays.equals(counts, countsPerClass)) {
      throw new IllegalArgumentException(
          "label manifest counts per class " + Arrays.toString(countsPerClass) + " do not match the dataset's labels "
              + Arrays.toString(counts) + ": a different copy of " + dataset + "?");
    }
  }

  /** Writes JSON atomically (temp file + rename). */
  public void write(Path file) throws IOException {
    Path parent = file.toAbsolutePath().getParent();
    Files.createDirectories(parent);
    Path tmp = Files.createTempFile(parent, file.getFileName().toString(), ".tmp");
    try {
      JSON.writeValue(tmp.toFile(), this);
      Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    } finally {
      Files.deleteIfExists(tmp);
    }
  }

  /** Reads and validates a manifest written by {@link #write}. */
  public static LabelManifest read(Path file) throws IOException {
    if (!Files.isRegularFile(file)) {
      throw new NoSuchFileException(file.toString(), null, "label manifest not found");
    }
    try {
      return JSON.readValue(file.toFile(), LabelManifest.class);
    } catch (com.fasterxml.jackson.core.JacksonException e) {
      throw new BadDataException(file + ": not a label manifest (" + e.getOriginalMessage() + ")", e);
    } catch (RuntimeException e) {
      throw new BadDataException(file + ": invalid label manifest: " + e.getMessage(), e);
    }
  }
}
