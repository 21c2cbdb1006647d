package dev.selfie.training.jobs;

import dev.selfie.savedmodels.SavedModelExporter;
import dev.selfie.savedmodels.serving.VersionedModel;
import dev.selfie.training.run.RunDir;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.NavigableMap;

/**
 * Where {@code --model DIR} points: a SavedModel directory, a model base directory with numeric
 * version subdirectories ({@code savedmodel/1/}, as TensorFlow Serving lays them out), or a run
 * directory holding one ({@code RUN/savedmodel/<version>/}, or the unversioned
 * {@code RUN/savedmodel/} of older exports).
 */
public final class ModelDir {
  private ModelDir() {}

  /**
   * A located model.
   *
   * @param dir the SavedModel directory to load (the highest version of a base directory)
   * @param base the base directory of numeric versions, {@code null} for a single SavedModel
   * @param version the version of {@code dir} (its name if numeric, else 1)
   */
  public record Located(Path dir, Path base, long version) {}

  /** The SavedModel directory {@code dir} stands for: see {@link #locate}. */
  public static Path resolve(Path dir, String flag) {
    return locate(dir, flag).dir();
  }

  /**
   * {@code dir} itself if it is a SavedModel ({@code saved_model.pb} + variables); its highest
   * version if it is a base directory; else the same for {@code dir/savedmodel} (a run directory
   * after {@code selfie export}).
   *
   * @param flag the option name for messages, e.g. {@code --model}
   * @throws IllegalArgumentException naming the directory and what was expected
   */
  public static Located locate(Path dir, String flag) {
    Path abs = dir.toAbsolutePath().normalize();
    if (!Files.isDirectory(abs)) {
      throw new IllegalArgumentException(flag + " " + dir + ": no such directory");
    }
    if (SavedModelExporter.isSavedModel(abs)) {
      String n = abs.getFileName() == null ? "" : abs.getFileName().toString();
      return new Located(abs, null, n.matches("[0-9]{1,18}") ? Long.parseLong(n) : 1);
    }
    Located base = versioned(abs);
    if (base != null) {
      return base;
    }
    Path inRun = new RunDir(abs).savedModel();
    if (SavedModelExporter.isSavedModel(inRun)) {
      return new Located(inRun, null, 1); // unversioned export of an older build
    }
    base = versioned(inRun);
    if (base != null) {
      return base;
    }
    if (Files.isRegularFile(abs.resolve(RunDir.CONFIG_FILE))) {
      throw new IllegalArgumentException(flag + " " + dir + " is a run directory without an"
          + " exported model: run `selfie export --run " + dir + "` first");
    }
    throw new IllegalArgumentException(flag + " " + dir + ": not a SavedModel directory"
        + " (saved_model.pb + variables/), nor a base directory of versions (1/, 2/, ...), nor a"
        + " run directory with savedmodel/ inside");
  }

  private static Located versioned(Path base) {
    NavigableMap<Long, Path> versions = VersionedModel.versions(base);
    Map.Entry<Long, Path> top = versions.lastEntry();
    return top == null ? null : new Located(top.getValue(), base, top.getKey());
  }
}
