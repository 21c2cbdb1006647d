package dev.selfie.training;

import dev.selfie.savedmodels.SavedModelExporter;
import java.nio.file.Files;
import java.nio.file.Path;

/** Where {@code --model DIR} points: a SavedModel directory, or a run directory holding one. */
public final class ModelDir {
  private ModelDir() {}

  /**
   * {@code dir} itself if it is a SavedModel ({@code saved_model.pb} + variables), else
   * {@code dir/savedmodel} (a run directory after {@code selfie export}).
   *
   * @param flag the option name for messages, e.g. {@code --model}
   * @throws IllegalArgumentException naming the directory and what was expected
   */
  public static Path resolve(Path dir, String flag) {
    Path abs = dir.toAbsolutePath().normalize();
    if (!Files.isDirectory(abs)) {
      throw new IllegalArgumentException(flag + " " + dir + ": no such directory");
    }
    if (SavedModelExporter.isSavedModel(abs)) {
      return abs;
    }
    Path inRun = new RunDir(abs).savedModel();
    if (SavedModelExporter.isSavedModel(inRun)) {
      return inRun;
    }
    if (Files.isRegularFile(abs.resolve("config.json"))) {
      throw new IllegalArgumentException(flag + " " + dir + " is a run directory without an"
          + " exported model: run `selfie export --run " + dir + "` first");
    }
    throw new IllegalArgumentException(flag + " " + dir + ": not a SavedModel directory"
        + " (saved_model.pb + variables/) nor a run directory with savedmodel/ inside");
  }
}
