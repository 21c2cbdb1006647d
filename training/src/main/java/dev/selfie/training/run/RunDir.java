package dev.selfie.training.run;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The layout of a run's output directory ({@code --out DIR}):
 *
 * <pre>
 * DIR/config.json        the run config (model + optimizer + data), written at start
 * DIR/metrics.json       final metrics, written atomically at the end
 * DIR/metrics.jsonl      the metrics history: one JSON line per logged step
 * DIR/train.log          everything the run printed (appended to on --resume)
 * DIR/labels.json        the chosen labeled indices (finetuning label fractions)
 * DIR/checkpoints/       ckpt-&lt;step&gt;/ (see {@link CheckpointManager})
 * DIR/tensorboard/       events files (see {@link dev.selfie.training.loop.Summaries})
 * DIR/savedmodel/N/      the exported SavedModel, version N (TF Serving's layout)
 * </pre>
 */
public record RunDir(Path root) {

  /** The run's configuration file; also stored in the SavedModel's assets.extra/. */
  public static final String CONFIG_FILE = "config.json";

  public RunDir {
    if (root == null) {
      throw new IllegalArgumentException("run directory (--out) must be given");
    }
    root = root.toAbsolutePath().normalize();
  }

  /** Creates {@code root}, {@code checkpoints/} and {@code tensorboard/}. */
  public static RunDir create(Path root) {
    RunDir d = new RunDir(root);
    try {
      if (Files.exists(d.root) && !Files.isDirectory(d.root)) {
        throw new IllegalArgumentException("--out " + d.root + " exists and is not a directory");
      }
      Files.createDirectories(d.checkpoints());
      Files.createDirectories(d.tensorboard());
    } catch (IOException e) {
      throw new UncheckedIOException("cannot create run directory " + d.root + ": "
          + e.getMessage(), e);
    }
    return d;
  }

  public Path config() {
    return root.resolve(CONFIG_FILE);
  }

  public Path metrics() {
    return root.resolve("metrics.json");
  }

  /**
   * The metrics history, one JSON object per logged step
   * ({@link dev.selfie.training.loop.Listeners.History}).
   */
  public Path metricsHistory() {
    return root.resolve("metrics.jsonl");
  }

  /** The file name of a run's log: everything logged while the run was open ({@link Logs}). */
  public static final String TRAIN_LOG = "train.log";

  /** Everything the run logged ({@link Logs#openRun}). */
  public Path trainLog() {
    return root.resolve(TRAIN_LOG);
  }

  public Path labelsManifest() {
    return root.resolve("labels.json");
  }

  /** The held-out validation split of a finetuning run ({@code --validation}). */
  public Path validationManifest() {
    return root.resolve("validation.json");
  }

  public Path checkpoints() {
    return root.resolve("checkpoints");
  }

  public Path tensorboard() {
    return root.resolve("tensorboard");
  }

  /** The model base directory: {@code savedmodel/<version>/} are the exports. */
  public Path savedModel() {
    return root.resolve("savedmodel");
  }

  /** {@code savedmodel/<version>}. */
  public Path savedModel(long version) {
    return savedModel().resolve(Long.toString(version));
  }

  /** Writes the run config atomically to {@code config.json}. */
  public void writeConfig(Object config) {
    Json.writeAtomic(config(), Json.tree(config));
  }

  /** Reads {@code config.json} as {@code type}. */
  public <T> T readConfig(Class<T> type) {
    if (!Files.isRegularFile(config())) {
      throw new IllegalArgumentException("no " + CONFIG_FILE + " in run directory " + root);
    }
    return Json.read(config(), type);
  }
}
