package dev.selfie.data.formats;

import dev.selfie.data.BadDataException;
import dev.selfie.data.DatasetProvider;
import dev.selfie.data.DatasetSpec;
import dev.selfie.data.Datasets;
import dev.selfie.data.ImageChecks;
import dev.selfie.data.ImageSource;
import dev.selfie.data.OpenOptions;
import dev.selfie.data.ProgressListener;
import dev.selfie.data.Split;
import dev.selfie.data.StreamingSource;
import dev.selfie.data.pipeline.StreamPipelines;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.tensorflow.Operand;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TString;
import org.tensorflow.types.family.TType;

/**
 * Folders of your own images (DESIGN.md section 2): {@code --data-dir DIR} with {@code
 * DIR/train/<class>/...} and {@code DIR/test/<class>/...} (labeled; files may be nested below the
 * class folder), and/or {@code --unlabeled-dir DIR2} (any images, any nesting) which, for
 * pretraining, is added to the training split with label -1.
 *
 * <ul>
 *   <li>Class names: the folder names under {@code train/}, sorted (label = position); every
 *       class folder of {@code test/} must also be one of them. Without {@code --data-dir} (only
 *       unlabeled images) the one class is {@code unlabeled}.
 *   <li>Images: JPEG and PNG (also GIF, BMP) of any size, decoded in-graph and resized to the
 *       model's image size ({@link OpenOptions#imageSize()}, default {@value #DEFAULT_SIZE}):
 *       random-resized-crop + flip for training, resize + centre crop for evaluation (see {@link
 *       StreamPipelines}). Grey images become RGB. Normalised with the ImageNet mean/std.
 *   <li>Files that are not readable images (other formats, empty, truncated JPEG/PNG, bad PNG CRC)
 *       are skipped on open with one warning that counts them ({@link ImageSource#warnings()});
 *       hidden files ({@code .name}) are ignored. A folder with no usable image is an error.
 * </ul>
 *
 * Streamed ({@link StreamingSource}): the records are the file paths; the shuffle buffer holds the
 * whole split (paths are small), so the order is a full permutation per epoch.
 */
public final class ImageFolder implements DatasetProvider {

  public static final String NAME = "folder";
  public static final int DEFAULT_SIZE = 32;
  public static final String UNLABELED_CLASS = "unlabeled";

  @Override
  public double evalResize() {
    return StreamPipelines.EVAL_RESIZE;
  }

  @Override
  public String name() {
    return NAME;
  }

  /** A folder has no fixed facts: class names and sizes come from the files ({@link #open}). */
  @Override
  public DatasetSpec spec() {
    throw new IllegalStateException("dataset 'folder': class names and image size come from the"
        + " folder; open it (Datasets.open) or read the spec saved with the run (dataset.json)");
  }

  @Override
  public ImageSource open(Path dataDir) throws IOException {
    return open(dataDir, OpenOptions.DEFAULT);
  }

  @Override
  public ImageSource open(Path dataDir, OpenOptions options) throws IOException {
    Path unlabeled = options.unlabeledDir();
    if (dataDir == null && unlabeled == null) {
      throw new IllegalArgumentException("--dataset folder needs --data-dir DIR (with DIR/train/<class>/*"
          + " and DIR/test/<class>/* images) and/or --unlabeled-dir DIR2 (images for pretraining)");
    }
    int size = options.imageSizeOr(DEFAULT_SIZE);
    List<String> warnings = new ArrayList<>();
    Map<Split, List<String>> paths = new EnumMap<>(Split.class);
    Map<Split, List<Integer>> labels = new EnumMap<>(Split.class);
    List<String> classes;
    for (Split s : Split.values()) {
      paths.put(s, new ArrayList<>());
      labels.put(s, new ArrayList<>());
    }
    if (dataDir != null) {
      Path train = dataDir.resolve("train");
      if (!Files.isDirectory(train)) {
        throw new NoSuchFileException(train.toString(), null,
            "--data-dir " + dataDir + ": expected a train/ folder with one sub-folder of images per class");
      }
      classes = subdirs(train);
      if (classes.isEmpty()) {
        throw new BadDataException(train + ": no class folders (expected " + train + "/<class>/*.jpg|png)");
      }
      for (Split s : Split.values()) {
        Path root = dataDir.resolve(s.id());
        if (!Files.isDirectory(root)) {
          warnings.add(warn("folder " + dataDir + ": no " + s.id() + "/ folder: the " + s.id() + " split is empty"));
          continue;
        }
        for (String c : subdirs(root)) {
          if (!classes.contains(c)) {
            throw new BadDataException(root.resolve(c) + ": class '" + c + "' is not a folder of " + train
                + " (classes " + classes + ")");
          }
        }
        Scan scan = new Scan(s.id());
        try (Stream<Path> loose = Files.list(root)) {
          loose.filter(p -> Files.isRegularFile(p) && !hidden(p)).sorted().forEach(p -> scan.skip(p, "not in a class folder"));
        }
        for (int k = 0; k < classes.size(); k++) {
          Path cdir = root.resolve(classes.get(k));
          if (Files.isDirectory(cdir)) {
            for (Path p : scan.images(cdir)) {
              paths.get(s).add(p.toString());
              labels.get(s).add(k);
            }
          }
        }
        scan.report(root, warnings);
        if (s == Split.TRAIN && paths.get(s).isEmpty()) {
          throw new BadDataException(train + ": no usable images in the class folders " + classes
              + " (expected JPEG or PNG files)" + scan.summary());
        }
      }
    } else {
      classes = List.of(UNLABELED_CLASS);
    }
    if (unlabeled != null) {
      if (!Files.isDirectory(unlabeled)) {
        throw new NoSuchFileException(unlabeled.toString(), null, "--unlabeled-dir: no such directory");
      }
      Scan scan = new Scan("unlabeled");
      List<Path> found = scan.images(unlabeled);
      scan.report(unlabeled, warnings);
      if (found.isEmpty()) {
        throw new BadDataException("--unlabeled-dir " + unlabeled + ": no usable images (expected JPEG or PNG files,"
            + " any nesting)" + scan.summary());
      }
      for (Path p : found) {
        paths.get(Split.TRAIN).add(p.toString());
        labels.get(Split.TRAIN).add(-1);
      }
    }
    DatasetSpec spec = new DatasetSpec(NAME, size, size, 3, size, classes.size(), classes,
        ImageNetClasses.MEAN, ImageNetClasses.STD);
    Map<Split, String[]> p = new EnumMap<>(Split.class);
    Map<Split, int[]> l = new EnumMap<>(Split.class);
    for (Split s : Split.values()) {
      p.put(s, paths.get(s).toArray(String[]::new));
      l.put(s, labels.get(s).stream().mapToInt(Integer::intValue).toArray());
    }
    return new Source(dataDir != null ? dataDir : unlabeled, spec, p, l, List.copyOf(warnings));
  }

  private static String warn(String w) {
    System.getLogger(ImageFolder.class.getName()).log(System.Logger.Level.WARNING, w);
    return w;
  }

  private static boolean hidden(Path p) {
    return p.getFileName().toString().startsWith(".");
  }

  private static List<String> subdirs(Path dir) throws IOException {
    try (Stream<Path> s = Files.list(dir)) {
      return s.filter(Files::isDirectory).filter(p -> !hidden(p)).map(p -> p.getFileName().toString()).sorted().toList();
    }
  }

  /** Walks folders, checks files, counts the skipped ones by reason. */
  private static final class Scan {
    final String what;
    int seen;
    final Map<String, Integer> reasons = new TreeMap<>();
    final List<String> examples = new ArrayList<>();

    Scan(String what) {
      this.what = what;
    }

    void skip(Path p, String reason) {
      seen++;
      reasons.merge(reason, 1, Integer::sum);
      if (examples.size() < 5) {
        examples.add(p + ": " + reason);
      }
    }

    /** Usable image files under {@code dir} (recursive, sorted by path). */
    List<Path> images(Path dir) throws IOException {
      List<Path> files;
      try (Stream<Path> s = Files.walk(dir)) {
        files = s.filter(Files::isRegularFile)
            .filter(p -> {
              for (Path part : dir.relativize(p)) {
                if (part.toString().startsWith(".")) {
                  return false;
                }
              }
              return true;
            })
            .sorted(Comparator.comparing(Path::toString)).toList();
      }
      List<String> problems = files.parallelStream().map(ImageChecks::problem).toList();
      List<Path> ok = new ArrayList<>();
      for (int i = 0; i < files.size(); i++) {
        if (problems.get(i) == null) {
          seen++;
          ok.add(files.get(i));
        } else {
          skip(files.get(i), problems.get(i));
        }
      }
      return ok;
    }

    int skipped() {
      return reasons.values().stream().mapToInt(Integer::intValue).sum();
    }

    String summary() {
      return skipped() == 0 ? "" : "; skipped " + skipped() + " files " + reasons + ", e.g. " + examples;
    }

    void report(Path root, List<String> warnings) {
      if (skipped() > 0) {
        warnings.add(warn("folder " + what + " (" + root + "): skipped " + skipped() + " of " + seen
            + " files that are not usable images " + reasons + "; e.g. " + examples));
      }
    }
  }

  private record Source(Path location, DatasetSpec spec, Map<Split, String[]> paths, Map<Split, int[]> labelsBySplit,
      List<String> warnings) implements StreamingSource {

    @Override
    public int recordCount(Split split) {
      return size(split);
    }

    @Override
    public int[] recordOrdinals(Split split) {
      return java.util.stream.IntStream.range(0, size(split)).toArray();
    }

    @Override
    public Operand<? extends TType> records(Ops tf, Split split) {
      return tf.data.tensorSliceDataset(
          List.of(tf.constant(StandardCharsets.UTF_8, paths.get(split))), List.of(Shape.scalar()));
    }

    @Override
    public Operand<TString> imageBytes(Ops ftf, Operand<TString> record) {
      return ftf.io.readFile(record);
    }

    @Override
    public int shuffleBuffer(Split split) {
      return Math.max(1, size(split));
    }
  }

  @Override
  public FetchResult fetch(Path dataDir, URI baseUrl, ProgressListener progress) {
    throw new IllegalArgumentException("dataset 'folder' is your own images: nothing to download"
        + " (use --dataset folder --data-dir DIR with DIR/train/<class>/* and DIR/test/<class>/*)");
  }
}
