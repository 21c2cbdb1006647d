package dev.selfie.data.formats;

import dev.selfie.data.BadDataException;
import dev.selfie.data.DatasetProvider;
import dev.selfie.data.DatasetSpec;
import dev.selfie.data.Datasets;
import dev.selfie.data.ExampleTable;
import dev.selfie.data.ImageSource;
import dev.selfie.data.ProgressListener;
import dev.selfie.data.Split;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.tensorflow.Operand;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TString;
import org.tensorflow.types.TUint8;
import org.tensorflow.types.family.TType;

/**
 * Fashion-MNIST (Xiao, Rasul &amp; Vollgraf 2017) in IDX format, gzip-compressed or not
 * (DESIGN.md section 2): {@code train-images-idx3-ubyte.gz}, {@code train-labels-idx1-ubyte.gz},
 * {@code t10k-images-idx3-ubyte.gz}, {@code t10k-labels-idx1-ubyte.gz}. 28x28 grey images,
 * zero-padded to 32x32 (centred, 2 pixels each side) for the 4x4 grid of 8x8 patches.
 *
 * <p>Read in-graph by FixedLengthRecordDatasets (header 16/8 bytes, records 784/1 bytes, GZIP
 * decompression in the reader); on open the files are read through once
 * in Java to validate them (magic, dimensions, exact length, gzip CRC, labels 0-9).
 *
 * <p>Normalisation constants: mean 0.2860 and std 0.3530 of the 60,000 native 28x28 training
 * images scaled to [0,1] (computed from the official files: 0.28604060, 0.35302424).
 *
 * <p>Locations: without {@code --data-dir}, the Debian package {@code dataset-fashion-mnist}
 * ({@value #SYSTEM_DIR}) first, then {@code <data home>/fashion-mnist}. The Debian .gz files are
 * recompressed (their md5s differ from the published ones), so copies found on disk are checked
 * by structure, not checksum; {@link #MD5} is checked on downloads.
 */
public final class FashionMnist implements DatasetProvider {

  public static final String NAME = "fashion-mnist";
  public static final int SIDE = 28;
  public static final int PADDED = 32;
  public static final String SYSTEM_DIR = "/usr/share/datasets/fashion-mnist";
  public static final URI BASE_URL = URI.create("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/");

  /**
   * The second source of a download without a mirror: Debian's package of the same files
   * (version 0.0~git20200523.55506a9-1, 30.9 MB), from Debian's own mirror network, which answers
   * where only package registries are reachable. Its md5 is pinned; the IDX files inside are
   * recompressed, so they are checked by structure (as the installed package's are).
   */
  public static final DebianPackage DEBIAN_PACKAGE = new DebianPackage(
      URI.create("http://deb.debian.org/debian/pool/main/d/dataset-fashion-mnist/"
          + "dataset-fashion-mnist_0.0~git20200523.55506a9-1_all.deb"),
      "28c148d3a02fef8285239e22d1f420b1", SYSTEM_DIR.substring(1));

  /** File stems (without .gz) per split: images, labels. */
  static final Map<Split, List<String>> FILES =
      Map.of(
          Split.TRAIN, List.of("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
          Split.TEST, List.of("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"));

  /** The official gz files and their md5s, as published in the zalandoresearch/fashion-mnist README. */
  public static final Map<String, String> MD5 =
      Map.of(
          "train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
          "train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe",
          "t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79",
          "t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310");

  public static final List<String> CLASS_NAMES =
      List.of("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot");

  public static final DatasetSpec SPEC =
      new DatasetSpec(NAME, SIDE, SIDE, 1, PADDED, 10, CLASS_NAMES, new float[] {0.2860406f}, new float[] {0.3530242f});

  @Override
  public String name() {
    return NAME;
  }

  @Override
  public DatasetSpec spec() {
    return SPEC;
  }

  public static boolean hasFiles(Path dir) {
    return find(dir, FILES.get(Split.TRAIN).get(0)) != null || find(dir, FILES.get(Split.TEST).get(0)) != null;
  }

  /** {@code dir/stem.gz} or {@code dir/stem}, whichever exists, else null. */
  static Path find(Path dir, String stem) {
    Path gz = dir.resolve(stem + ".gz");
    if (Files.isRegularFile(gz)) {
      return gz;
    }
    Path raw = dir.resolve(stem);
    return Files.isRegularFile(raw) ? raw : null;
  }

  /**
   * True if the IDX files are in one of the places {@link #open} looks (the Debian package's
   * directory or the data home without {@code dataDir}); nothing is validated.
   */
  public static boolean present(Path dataDir) {
    return candidates(dataDir).stream().anyMatch(FashionMnist::hasFiles);
  }

  /**
   * The directory {@link #open} would read without {@code --data-dir}: the Debian package's, else
   * the data home's, whichever holds the files first; null when neither does.
   */
  public static Path installed() {
    return candidates(null).stream().filter(FashionMnist::hasFiles).findFirst().orElse(null);
  }

  /** The directories {@link #open} looks in, in order. */
  public static List<Path> locations(Path dataDir) {
    return List.copyOf(candidates(dataDir));
  }

  static List<Path> candidates(Path dataDir) {
    List<Path> c = new ArrayList<>();
    if (dataDir == null) {
      c.add(Path.of(SYSTEM_DIR));
      c.add(Datasets.dataHome(null).resolve(NAME));
    } else {
      c.add(dataDir.resolve(NAME));
      c.add(dataDir);
    }
    return c;
  }

  @Override
  public ImageSource open(Path dataDir) throws IOException {
    List<Path> c = candidates(dataDir);
    for (Path d : c) {
      if (hasFiles(d)) {
        return openDir(d);
      }
    }
    throw new NoSuchFileException(
        c.get(0).toString(), null,
        "Fashion-MNIST IDX files not found: expected train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
            + "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz in one of " + c
            + " (install the Debian package dataset-fashion-mnist, or run: selfie data fetch fashion-mnist)");
  }

  /** Opens and validates the directory holding the four IDX files. */
  public static ImageSource openDir(Path dir) throws IOException {
    Map<Split, Path[]> files = new EnumMap<>(Split.class);
    Map<Split, int[]> labels = new EnumMap<>(Split.class);
    for (Split s : Split.values()) {
      Path img = require(dir, FILES.get(s).get(0));
      Path lbl = require(dir, FILES.get(s).get(1));
      IdxReader.ImagesHeader h = IdxReader.checkImages(img);
      if (h.rows() != SIDE || h.cols() != SIDE) {
        throw new BadDataException(img + ": images are " + h.rows() + "x" + h.cols() + ", expected " + SIDE + "x" + SIDE);
      }
      if (h.count() == 0) {
        throw new BadDataException(img + ": holds no images");
      }
      byte[] raw = IdxReader.readLabels(lbl);
      if (raw.length != h.count()) {
        throw new BadDataException(
            lbl + ": " + raw.length + " labels but " + img + " has " + h.count() + " images; counts must match");
      }
      int[] l = new int[raw.length];
      for (int i = 0; i < raw.length; i++) {
        l[i] = raw[i] & 0xff;
        if (l[i] >= SPEC.numClasses()) {
          throw new BadDataException(lbl + ": label " + i + " is " + l[i] + ", expected 0-" + (SPEC.numClasses() - 1));
        }
      }
      files.put(s, new Path[] {img, lbl});
      labels.put(s, l);
    }
    return new Source(dir, files, labels);
  }

  private static Path require(Path dir, String stem) throws NoSuchFileException {
    Path p = find(dir, stem);
    if (p == null) {
      throw new NoSuchFileException(dir.resolve(stem + ".gz").toString(), null, "Fashion-MNIST IDX file not found");
    }
    return p;
  }

  private record Source(Path location, Map<Split, Path[]> files, Map<Split, int[]> labelsBySplit)
      implements ImageSource {

    @Override
    public DatasetSpec spec() {
      return SPEC;
    }

    @Override
    public ExampleTable examples(Ops tf, Split split) {
      Path[] f = files.get(split);
      int n = size(split);
      Operand<TUint8> images =
          tf.reshape(readAll(tf, f[0], IdxReader.IMAGES_HEADER, SIDE * SIDE, n), tf.constant(new int[] {n, SIDE, SIDE, 1}));
      Operand<TInt32> labels =
          tf.reshape(tf.dtypes.cast(readAll(tf, f[1], IdxReader.LABELS_HEADER, 1, n), TInt32.class), tf.constant(new int[] {n}));
      return new ExampleTable(images, labels);
    }
  }

  /**
   * Reads an IDX file in-graph: a FixedLengthRecordDataset (header skipped, GZIP-decompressed if
   * the file is gzip) batched into one element of {@code n} records -> uint8 {@code [n, record]}.
   */
  private static Operand<TUint8> readAll(Ops tf, Path file, int header, int record, int n) {
    boolean gz;
    try {
      gz = IdxReader.isGzip(file);
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    Operand<? extends TType> ds =
        tf.data.fixedLengthRecordDataset(
            tf.constant(java.nio.charset.StandardCharsets.UTF_8, new String[] {file.toString()}),
            tf.constant((long) header),
            tf.constant((long) record),
            tf.constant(0L),
            tf.constant(1L << 20),
            tf.constant(gz ? "GZIP" : ""));
    // A one-component zip gives the records the PRODUCT full type BatchDatasetV2's type inference
    // expects (without it TF logs "Type inference failed" for FixedLengthRecordDatasetV2 -> batch).
    ds = tf.data.zipDataset(List.of(ds), List.of(TString.class), List.of(Shape.scalar()));
    ds = tf.data.batchDataset(ds, tf.constant((long) n), tf.constant(false), List.of(TString.class), List.of(Shape.of(-1)));
    @SuppressWarnings("unchecked")
    Operand<TString> records =
        (Operand<TString>) tf.data.datasetToSingleElement(ds, List.of(TString.class), List.of(Shape.of(-1))).components().get(0);
    return tf.io.decodeRaw(records, TUint8.class); // [n, record]
  }

  /**
   * Opens Fashion-MNIST as {@link #open} does, first downloading it into the data home when it is
   * in none of {@link #locations} (as Keras' {@code load_data()} does): {@link #fetch}, with its
   * progress reports and the published md5s checked (and, without {@code baseUrl}, Debian's
   * package as the second source). Where the download fails, the exception's
   * message is one line that names the locations, the cause and both remedies.
   *
   * @param baseUrl where the official files are, or null for the official location
   */
  public ImageSource openOrFetch(Path dataDir, URI baseUrl, ProgressListener progress)
      throws IOException {
    return openOrFetch(dataDir, baseUrl, progress, MD5, baseUrl == null ? DEBIAN_PACKAGE : null);
  }

  /** {@link #openOrFetch} with the official files at {@code baseUrl} only (no second source). */
  ImageSource openOrFetch(Path dataDir, URI baseUrl, ProgressListener progress,
      Map<String, String> md5) throws IOException {
    return openOrFetch(dataDir, baseUrl, progress, md5, null);
  }

  /**
   * {@link #openOrFetch} with the expected md5 per file and the fallback package given (tests
   * serve generated files).
   */
  ImageSource openOrFetch(Path dataDir, URI baseUrl, ProgressListener progress,
      Map<String, String> md5, DebianPackage debian) throws IOException {
    if (!present(dataDir)) {
      try {
        fetch(dataDir, baseUrl, progress, md5, debian);
      } catch (IOException e) {
        throw new IOException(notFetched(dataDir, e), e);
      }
    }
    return open(dataDir);
  }

  /** The one-line message of a Fashion-MNIST that is nowhere and could not be downloaded. */
  static String notFetched(Path dataDir, IOException cause) {
    String why = oneLine(cause);
    return "Fashion-MNIST is not in " + candidates(dataDir) + " and downloading it failed ("
        + why + "): install the Debian package (sudo apt-get install dataset-fashion-mnist), or"
        + " run `selfie data fetch fashion-mnist" + (dataDir == null ? "" : " --data-dir " + dataDir)
        + "` where there is internet (--base-url for a mirror)";
  }

  /**
   * Downloads Fashion-MNIST into the data home unless it is already on disk: the official files
   * from {@code baseUrl} (null: {@link #BASE_URL}), md5-checked; without a {@code baseUrl}, where
   * the official site cannot be reached or serves a bad file, the files of Debian's package
   * ({@link #DEBIAN_PACKAGE}) instead.
   */
  @Override
  public FetchResult fetch(Path dataDir, URI baseUrl, ProgressListener progress) throws IOException {
    return fetch(dataDir, baseUrl, progress, MD5, baseUrl == null ? DEBIAN_PACKAGE : null);
  }

  /** {@link #fetch} with the official files at {@code baseUrl} only (no second source). */
  FetchResult fetch(Path dataDir, URI baseUrl, ProgressListener progress, Map<String, String> md5)
      throws IOException {
    return fetch(dataDir, baseUrl, progress, md5, null);
  }

  /**
   * {@link #fetch} with the expected md5 per file and the fallback package given (tests serve
   * generated files).
   *
   * @param debian tried when the official files fail, or null for none
   */
  FetchResult fetch(Path dataDir, URI baseUrl, ProgressListener progress, Map<String, String> md5,
      DebianPackage debian) throws IOException {
    if (dataDir == null && hasFiles(Path.of(SYSTEM_DIR))) {
      openDir(Path.of(SYSTEM_DIR));
      return new FetchResult(Path.of(SYSTEM_DIR), false, 0);
    }
    Path home = Datasets.dataHome(dataDir);
    Path target = home.resolve(NAME);
    if (Files.exists(target)) {
      openDir(target);
      return new FetchResult(target, false, 0);
    }
    Fetcher fetcher = new Fetcher(baseUrl == null ? BASE_URL : baseUrl, progress);
    return Fetcher.atomically(home, target, tmp -> {
      Path out = Files.createDirectories(tmp.resolve("out"));
      long bytes = 0;
      try {
        for (Split s : Split.values()) {
          for (String stem : FILES.get(s)) {
            String file = stem + ".gz";
            bytes += fetcher.download(file, md5.get(file), out.resolve(file));
          }
        }
      } catch (IOException official) {
        if (debian == null) {
          throw official;
        }
        Fetcher.deleteRecursively(out);
        Files.createDirectories(out);
        bytes = fromDebian(debian, tmp, out, progress, official);
      }
      openDir(out); // validate before publishing
      return new FetchResult(target, true, bytes);
    }, "out");
  }

  /** The IDX files of {@code debian} into {@code out}; bytes downloaded. */
  private static long fromDebian(DebianPackage debian, Path tmp, Path out,
      ProgressListener progress, IOException official) throws IOException {
    String first = oneLine(official);
    progress.note("fashion-mnist: the official files failed (" + first + "); downloading Debian's"
        + " package of them instead: " + debian.url());
    Path deb = tmp.resolve(debian.fileName());
    try {
      long bytes = new Fetcher(debian.base(), progress).download(debian.fileName(), debian.md5(),
          deb);
      Set<String> names = new TreeSet<>();
      FILES.values().forEach(stems -> stems.forEach(stem -> names.add(stem + ".gz")));
      debian.extract(deb, names, out);
      Files.delete(deb);
      return bytes;
    } catch (IOException e) {
      String both = "official files: " + first + "; Debian package: " + oneLine(e);
      IOException failed = e instanceof BadDataException ? new BadDataException(both, e)
          : new IOException(both, e);
      failed.addSuppressed(official);
      throw failed;
    }
  }

  private static String oneLine(IOException e) {
    String why = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    return why.replace(Fetcher.OFFLINE_HINT, "").replaceAll("\\s+", " ").strip();
  }
}
