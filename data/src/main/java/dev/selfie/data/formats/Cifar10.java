package dev.selfie.data.formats;

import dev.selfie.data.BadDataException;
import dev.selfie.data.DatasetProvider;
import dev.selfie.data.DatasetSpec;
import dev.selfie.data.Datasets;
import dev.selfie.data.ExampleTable;
import dev.selfie.data.ImageSource;
import dev.selfie.data.ProgressListener;
import dev.selfie.data.Split;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPInputStream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.tensorflow.Operand;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TString;
import org.tensorflow.types.TUint8;
import org.tensorflow.types.family.TType;

/**
 * CIFAR-10, binary version (DESIGN.md section 2): {@code data_batch_1.bin}..{@code
 * data_batch_5.bin}, {@code test_batch.bin}, records of 3073 bytes (1 label byte 0-9, then 1024
 * red, 1024 green, 1024 blue bytes, each 32x32 row-major) and {@code batches.meta.txt} (class
 * names, one a line). Read in-graph by a FixedLengthRecordDataset.
 *
 * <p>Normalisation constants: per-channel mean and standard deviation of the 50,000 training
 * images scaled to [0,1] (population std over all pixels): mean (0.4914, 0.4822, 0.4465), std
 * (0.2470, 0.2435, 0.2616) -- the widely published values (not the per-image-std variant
 * 0.2023/0.1994/0.2010); not recomputed on this machine, which has no copy of CIFAR-10.
 */
public final class Cifar10 implements DatasetProvider {

  public static final String NAME = "cifar10";
  /** Bytes of one record: 1 label byte + 3 * 32 * 32 pixel bytes (channel-planar). */
  public static final int RECORD_BYTES = 3073;
  public static final int SIDE = 32;
  public static final List<String> TRAIN_FILES =
      List.of("data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin");
  public static final List<String> TEST_FILES = List.of("test_batch.bin");
  public static final String META_FILE = "batches.meta.txt";
  /** The subdirectory the official tarball unpacks to. */
  public static final String ARCHIVE_DIR = "cifar-10-batches-bin";
  /** The official binary tarball and its published md5. */
  public static final String ARCHIVE = "cifar-10-binary.tar.gz";
  public static final String ARCHIVE_MD5 = "c32a1d4ab5d03f1284b67883e8d87530";
  public static final URI BASE_URL = URI.create("https://www.cs.toronto.edu/~kriz/");

  public static final List<String> CLASS_NAMES =
      List.of("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck");

  public static final DatasetSpec SPEC =
      new DatasetSpec(
          NAME, SIDE, SIDE, 3, SIDE, 10, CLASS_NAMES,
          new float[] {0.4914009f, 0.4821586f, 0.4465309f},
          new float[] {0.2470322f, 0.2434851f, 0.2615878f});

  @Override
  public String name() {
    return NAME;
  }

  @Override
  public DatasetSpec spec() {
    return SPEC;
  }

  /** Candidate directories under a data home / given directory, in search order. */
  static List<Path> candidates(Path dir) {
    return List.of(
        dir.resolve(NAME).resolve(ARCHIVE_DIR), dir.resolve(NAME), dir.resolve(ARCHIVE_DIR), dir);
  }

  @Override
  public ImageSource open(Path dataDir) throws IOException {
    Path home = Datasets.dataHome(dataDir);
    for (Path c : candidates(home)) {
      if (Files.isRegularFile(c.resolve(TRAIN_FILES.get(0))) || Files.isRegularFile(c.resolve(TEST_FILES.get(0)))) {
        return openDir(c);
      }
    }
    throw new NoSuchFileException(
        home.toString(), null,
        "CIFAR-10 binary files not found: expected " + TRAIN_FILES.get(0) + ", ..., "
            + TEST_FILES.get(0) + " and " + META_FILE + " in one of " + candidates(home)
            + " (run: selfie data fetch cifar10" + (dataDir == null ? "" : " --data-dir " + dataDir) + ")");
  }

  /** Opens and validates the directory holding the CIFAR-10 binary files. */
  public static ImageSource openDir(Path dir) throws IOException {
    Path meta = dir.resolve(META_FILE);
    if (!Files.isRegularFile(meta)) {
      throw new NoSuchFileException(meta.toString(), null, "CIFAR-10 class names file not found");
    }
    List<String> names = new ArrayList<>();
    for (String line : Files.readAllLines(meta, StandardCharsets.UTF_8)) {
      if (!line.isBlank()) {
        names.add(line.strip());
      }
    }
    if (names.size() != SPEC.numClasses()) {
      throw new BadDataException(
          meta + ": expected " + SPEC.numClasses() + " class names (one a line), found " + names.size());
    }
    DatasetSpec spec =
        new DatasetSpec(NAME, SIDE, SIDE, 3, SIDE, 10, names, SPEC.mean(), SPEC.std());
    Map<Split, List<Path>> files = new EnumMap<>(Split.class);
    Map<Split, int[]> labels = new EnumMap<>(Split.class);
    for (Split s : Split.values()) {
      List<Path> paths = new ArrayList<>();
      List<int[]> parts = new ArrayList<>();
      for (String f : s == Split.TRAIN ? TRAIN_FILES : TEST_FILES) {
        Path p = dir.resolve(f);
        paths.add(p);
        parts.add(readLabels(p, spec.numClasses()));
      }
      int[] all = concat(parts);
      if (all.length == 0) {
        throw new BadDataException(dir + ": the " + s.id() + " files " + (s == Split.TRAIN ? TRAIN_FILES : TEST_FILES) + " hold no records");
      }
      files.put(s, List.copyOf(paths));
      labels.put(s, all);
    }
    return new Source(dir, spec, files, labels);
  }

  /** Validates one batch file (size a multiple of 3073, every label byte 0..numClasses-1) and returns its labels. */
  static int[] readLabels(Path file, int numClasses) throws IOException {
    if (!Files.isRegularFile(file)) {
      throw new NoSuchFileException(file.toString(), null, "CIFAR-10 batch file not found");
    }
    long size = Files.size(file);
    if (size % RECORD_BYTES != 0) {
      throw new BadDataException(
          file + ": size " + size + " bytes is not a multiple of the " + RECORD_BYTES
              + "-byte CIFAR-10 record (1 label byte + 3072 pixel bytes): truncated or not a CIFAR-10 binary batch");
    }
    int n = (int) (size / RECORD_BYTES);
    int[] labels = new int[n];
    if (n == 0) {
      return labels;
    }
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      MappedByteBuffer buf = ch.map(FileChannel.MapMode.READ_ONLY, 0, size);
      for (int i = 0; i < n; i++) {
        int l = buf.get(i * RECORD_BYTES) & 0xff;
        if (l >= numClasses) {
          throw new BadDataException(
              file + ": record " + i + " (byte offset " + (long) i * RECORD_BYTES + ") has label " + l
                  + ", expected 0-" + (numClasses - 1));
        }
        labels[i] = l;
      }
    }
    return labels;
  }

  private static int[] concat(List<int[]> parts) {
    int n = parts.stream().mapToInt(a -> a.length).sum();
    int[] out = new int[n];
    int o = 0;
    for (int[] p : parts) {
      System.arraycopy(p, 0, out, o, p.length);
      o += p.length;
    }
    return out;
  }

  /**
   * Reads CIFAR-10 binary batch files in-graph: a FixedLengthRecordDataset of 3073-byte records,
   * batched into one element of {@code n} records; then {@code [N, 3073]} bytes -> labels
   * {@code [N]} and channel-planar pixels {@code [N, 3, 32, 32]} -> HWC {@code [N, 32, 32, 3]}.
   */
  static ExampleTable readRecords(Ops tf, String[] files, int n) {
    Operand<? extends TType> ds =
        tf.data.fixedLengthRecordDataset(
            tf.constant(StandardCharsets.UTF_8, files),
            tf.constant(0L),
            tf.constant((long) RECORD_BYTES),
            tf.constant(0L),
            tf.constant(1L << 20),
            tf.constant(""));
    // A one-component zip gives the records the PRODUCT full type BatchDatasetV2's type inference
    // expects (without it TF logs "Type inference failed" for FixedLengthRecordDatasetV2 -> batch).
    ds = tf.data.zipDataset(List.of(ds), List.of(TString.class), List.of(Shape.scalar()));
    ds = tf.data.batchDataset(ds, tf.constant((long) n), tf.constant(false), List.of(TString.class), List.of(Shape.of(-1)));
    @SuppressWarnings("unchecked")
    Operand<TString> records =
        (Operand<TString>) tf.data.datasetToSingleElement(ds, List.of(TString.class), List.of(Shape.of(-1))).components().get(0);
    Operand<TUint8> bytes = tf.io.decodeRaw(records, TUint8.class); // [N, 3073]
    Operand<TInt32> labels =
        tf.reshape(
            tf.dtypes.cast(tf.slice(bytes, tf.constant(new int[] {0, 0}), tf.constant(new int[] {-1, 1})), TInt32.class),
            tf.constant(new int[] {-1})); // [N]
    Operand<TUint8> planar =
        tf.reshape(
            tf.slice(bytes, tf.constant(new int[] {0, 1}), tf.constant(new int[] {-1, RECORD_BYTES - 1})),
            tf.constant(new int[] {-1, 3, SIDE, SIDE})); // [N, C, H, W]
    Operand<TUint8> hwc = tf.linalg.transpose(planar, tf.constant(new int[] {0, 2, 3, 1})); // [N, H, W, C]
    return new ExampleTable(tf.ensureShape(hwc, Shape.of(n, SIDE, SIDE, 3)), tf.ensureShape(labels, Shape.of(n)));
  }

  private record Source(Path location, DatasetSpec spec, Map<Split, List<Path>> files, Map<Split, int[]> labelsBySplit)
      implements ImageSource {

    @Override
    public ExampleTable examples(Ops tf, Split split) {
      String[] names = files.get(split).stream().map(Path::toString).toArray(String[]::new);
      return readRecords(tf, names, size(split));
    }
  }

  @Override
  public FetchResult fetch(Path dataDir, URI baseUrl, ProgressListener progress) throws IOException {
    return fetch(dataDir, baseUrl, progress, ARCHIVE_MD5);
  }

  /** {@link #fetch} with the expected archive md5 given (tests serve generated archives). */
  FetchResult fetch(Path dataDir, URI baseUrl, ProgressListener progress, String archiveMd5) throws IOException {
    Path home = Datasets.dataHome(dataDir);
    Path target = home.resolve(NAME);
    Path filesDir = target.resolve(ARCHIVE_DIR);
    if (Files.exists(target)) {
      openDir(filesDir); // throws a clear error if something is there but broken
      return new FetchResult(filesDir, false, 0);
    }
    Fetcher fetcher = new Fetcher(baseUrl == null ? BASE_URL : baseUrl, progress);
    return Fetcher.atomically(home, target, tmp -> {
      Path archive = tmp.resolve(ARCHIVE);
      long bytes = fetcher.download(ARCHIVE, archiveMd5, archive);
      Path out = tmp.resolve("out");
      untar(archive, out, progress);
      Files.delete(archive);
      openDir(out.resolve(ARCHIVE_DIR)); // validate before publishing
      return new FetchResult(filesDir, true, bytes);
    }, "out");
  }

  /** Unpacks the entries under {@code cifar-10-batches-bin/} of a .tar.gz into {@code out}. */
  static void untar(Path archive, Path out, ProgressListener progress) throws IOException {
    Files.createDirectories(out);
    long size = Files.size(archive);
    try (InputStream raw = new BufferedInputStream(Files.newInputStream(archive), 1 << 16);
        TarArchiveInputStream tar = new TarArchiveInputStream(new GZIPInputStream(raw, 1 << 16))) {
      TarArchiveEntry e;
      int files = 0;
      while ((e = tar.getNextEntry()) != null) {
        String name = e.getName();
        if (!name.startsWith(ARCHIVE_DIR + "/") || name.contains("..") || !e.isFile()) {
          continue;
        }
        Path dest = out.resolve(name).normalize();
        if (!dest.startsWith(out)) {
          throw new BadDataException(archive + ": entry " + name + " escapes the target directory");
        }
        Files.createDirectories(dest.getParent());
        Files.copy(tar, dest);
        files++;
        progress.progress("unpack " + ARCHIVE, files, -1);
      }
      if (files == 0) {
        throw new BadDataException(archive + ": no " + ARCHIVE_DIR + "/ entries: not the CIFAR-10 binary tarball");
      }
    } catch (BadDataException e) {
      throw e;
    } catch (IOException e) {
      throw new BadDataException(archive + ": corrupt or truncated tar.gz (" + size + " bytes): " + e.getMessage(), e);
    }
  }
}
