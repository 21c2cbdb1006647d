package dev.selfie.training.jobs;

import dev.selfie.data.DatasetSpec;
import dev.selfie.data.Datasets;
import dev.selfie.data.ImageSource;
import dev.selfie.data.OpenOptions;
import dev.selfie.data.formats.FashionMnist;
import dev.selfie.training.loop.FetchProgress;
import dev.selfie.training.options.DataOptions;
import dev.selfie.training.run.Json;
import dev.selfie.training.run.RunDir;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The dataset side of a run: opening the dataset at the model's image size (ImageNet TFRecords and
 * image folders are resized to it; a folder's pretraining can add an unlabeled directory), and the
 * dataset's spec saved with the run as {@value #FILE} -- for folders the class names and image
 * size exist only there (and in the SavedModel), not in the registry.
 */
public final class RunData {
  private RunData() {}

  /** The dataset spec of a run (name, sizes, class names, normalisation), JSON. */
  public static final String FILE = "dataset.json";

  /**
   * Opens {@code dataset} for a model of {@code imageSize} x {@code imageSize} inputs.
   *
   * @param unlabeledDir {@code --unlabeled-dir} (folder pretraining) or null
   */
  public static ImageSource open(String dataset, Path dataDir, int imageSize, Path unlabeledDir) throws IOException {
    if (unlabeledDir != null && !dataset.equals("folder")) {
      throw new IllegalArgumentException("--unlabeled-dir works with --dataset folder only, not " + dataset);
    }
    ImageSource src = dataset.equals(FashionMnist.NAME)
        ? openOrFetchFashionMnist(dataDir)
        : Datasets.open(dataset, dataDir, new OpenOptions(imageSize, unlabeledDir));
    for (String w : src.warnings()) {
      System.err.println("warning: " + w);
    }
    return src;
  }

  /** Opens {@code data}'s dataset for a model of {@code imageSize} x {@code imageSize} inputs. */
  public static ImageSource open(DataOptions data, int imageSize) throws IOException {
    return open(data.dataset(), data.dataDir(), imageSize, data.unlabeledDir());
  }

  /**
   * Fashion-MNIST from the Debian package's directory or the data home, else downloaded into the
   * data home first (the official files, md5-checked, with progress on stderr: {@code selfie data
   * fetch}'s code); where that fails, an IOException whose one-line message gives both remedies.
   * The system property {@value #BASE_URL_PROPERTY} points the download at a mirror.
   */
  static ImageSource openOrFetchFashionMnist(Path dataDir) throws IOException {
    if (!FashionMnist.present(dataDir)) {
      System.err.printf("fashion-mnist: not found in %s; downloading it (about 30 MB, once) into"
          + " %s%n", FashionMnist.locations(dataDir),
          Datasets.dataHome(dataDir).resolve(FashionMnist.NAME));
    }
    String base = System.getProperty(BASE_URL_PROPERTY);
    PrintWriter err = new PrintWriter(System.err, true);
    try (FetchProgress progress = new FetchProgress(err, System.console() != null)) {
      return new FashionMnist().openOrFetch(dataDir,
          base == null || base.isBlank() ? null : URI.create(base), progress);
    }
  }

  /** Where the automatic download of Fashion-MNIST fetches from instead of the official site. */
  public static final String BASE_URL_PROPERTY = "selfie.data.base-url";

  /** Writes {@code spec} as {@code RUN_DIR/dataset.json}. */
  public static void save(RunDir dir, DatasetSpec spec) {
    Json.writeAtomic(dir.root().resolve(FILE), spec);
  }

  /** The spec saved with the run, else (runs from before it was saved) the registry's. */
  public static DatasetSpec spec(RunDir dir, String dataset) {
    Path f = dir.root().resolve(FILE);
    if (Files.isRegularFile(f)) {
      DatasetSpec s = Json.read(f, DatasetSpec.class);
      if (!s.name().equals(dataset)) {
        throw new IllegalArgumentException(f + ": dataset " + s.name() + ", but config.json says " + dataset);
      }
      return s;
    }
    return Datasets.spec(dataset);
  }
}
