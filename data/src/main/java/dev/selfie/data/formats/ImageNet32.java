package dev.selfie.data.formats;

import dev.selfie.data.BadDataException;
import dev.selfie.data.DatasetProvider;
import dev.selfie.data.DatasetSpec;
import dev.selfie.data.Datasets;
import dev.selfie.data.ExampleTable;
import dev.selfie.data.ImageSource;
import dev.selfie.data.ProgressListener;
import dev.selfie.data.Split;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import org.tensorflow.Operand;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TString;
import org.tensorflow.types.TUint8;
import org.tensorflow.types.family.TType;

/**
 * Downsampled ImageNet 32x32 (Chrabaszcz, Loshchilov &amp; Hutter 2017), npz variant (DESIGN.md
 * section 2): {@code train_data_batch_1.npz}..{@code train_data_batch_10.npz} and {@code
 * val_data.npz}, each with {@code data} (uint8 {@code [N, 3072]}, channel-planar like CIFAR: 1024
 * red, 1024 green, 1024 blue, each 32x32 row-major) and {@code labels} (integers 1..1000, stored as
 * 0..999); train batches also hold {@code mean}, which is ignored. The test split is {@code
 * val_data.npz}.
 *
 * <p>In memory, like CIFAR-10: the whole split is read in-graph into one uint8 tensor when the
 * iterator is made (train: 1,281,167 x 3072 B = 3.9 GB resident, about twice that while the ten
 * files are concatenated), then indexed by the permutation pipeline, so shuffling is a full
 * permutation and resuming is exact and free. A machine that trains on ImageNet 32x32 has this
 * memory; streaming would cost the exact full-epoch shuffle. Arrays stored uncompressed ({@code
 * numpy.savez}, the published files) are read by a FixedLengthRecordDataset straight from the npz at
 * the array's offset (no copy); compressed ones ({@code savez_compressed}) are unpacked once into a
 * cache ({@code .selfie-cache/} beside the files, or under the data home if that is read-only).
 * Labels are read and checked (1..1000) in Java on open.
 */
public final class ImageNet32 implements DatasetProvider {

  public static final String NAME = "imagenet32";
  public static final int SIDE = 32;
  public static final int IMAGE_BYTES = 3 * SIDE * SIDE;
  public static final List<String> TRAIN_FILES;
  public static final List<String> TEST_FILES = List.of("val_data.npz");

  static {
    List<String> t = new ArrayList<>();
    for (int i = 1; i <= 10; i++) {
      t.add("train_data_batch_" + i + ".npz");
    }
    TRAIN_FILES = List.copyOf(t);
  }

  public static final DatasetSpec SPEC =
      new DatasetSpec(NAME, SIDE, SIDE, 3, SIDE, ImageNetClasses.COUNT, ImageNetClasses.generic(),
          ImageNetClasses.MEAN, ImageNetClasses.STD);

  @Override
  public String name() {
    return NAME;
  }

  @Override
  public DatasetSpec spec() {
    return SPEC;
  }

  static List<Path> candidates(Path dataDir) {
    Path home = Datasets.dataHome(dataDir);
    return List.of(home.resolve(NAME), home);
  }

  @Override
  public ImageSource open(Path dataDir) throws IOException {
    List<Path> c = candidates(dataDir);
    for (Path d : c) {
      if (Files.isRegularFile(d.resolve(TRAIN_FILES.get(0))) || Files.isRegularFile(d.resolve(TEST_FILES.get(0)))) {
        return openDir(d);
      }
    }
    throw new NoSuchFileException(c.get(0).toString(), null,
        "ImageNet 32x32 npz files not found: expected train_data_batch_1.npz .. train_data_batch_10.npz and"
            + " val_data.npz (downsampled ImageNet, npz variant, from image-net.org) in one of " + c);
  }

  /** One npz file: where its pixels are read from (npz itself or the unpacked cache). */
  record Part(Path file, long headerBytes, long footerBytes, int count) {}

  /** Opens and validates the directory holding the 11 npz files. */
  public static ImageSource openDir(Path dir) throws IOException {
    List<String> names = ImageNetClasses.find(dir);
    DatasetSpec spec = new DatasetSpec(NAME, SIDE, SIDE, 3, SIDE, ImageNetClasses.COUNT, names, SPEC.mean(), SPEC.std());
    Map<Split, List<Part>> parts = new EnumMap<>(Split.class);
    Map<Split, int[]> labels = new EnumMap<>(Split.class);
    List<String> missing = new ArrayList<>();
    for (String f : concat(TRAIN_FILES, TEST_FILES)) {
      if (!Files.isRegularFile(dir.resolve(f))) {
        missing.add(f);
      }
    }
    if (!missing.isEmpty()) {
      throw new NoSuchFileException(dir.toString(), null, "ImageNet 32x32: missing " + missing
          + " (expected all of train_data_batch_1..10.npz and val_data.npz)");
    }
    for (Split s : Split.values()) {
      List<Part> ps = new ArrayList<>();
      List<int[]> ls = new ArrayList<>();
      for (String f : s == Split.TRAIN ? TRAIN_FILES : TEST_FILES) {
        Path file = dir.resolve(f);
        Map<String, Npz.Array> arrays = Npz.list(file);
        Npz.Array data = arrays.get("data");
        Npz.Array lab = arrays.get("labels");
        if (data == null || lab == null) {
          throw new BadDataException(file + ": expected arrays 'data' and 'labels', found " + arrays.keySet());
        }
        if (!data.descr().equals("|u1") || data.shape().length != 2 || data.shape()[1] != IMAGE_BYTES) {
          throw new BadDataException(file + ": 'data' is " + data.descr() + " " + java.util.Arrays.toString(data.shape())
              + ", expected |u1 (uint8) [N, " + IMAGE_BYTES + "]");
        }
        int n = Math.toIntExact(data.shape()[0]);
        if (lab.shape().length != 1 || lab.shape()[0] != n) {
          throw new BadDataException(file + ": 'labels' has shape " + java.util.Arrays.toString(lab.shape())
              + ", expected [" + n + "] (one per image)");
        }
        long[] raw = Npz.readIntegers(file, "labels");
        int[] l = new int[n];
        for (int i = 0; i < n; i++) {
          if (raw[i] < 1 || raw[i] > ImageNetClasses.COUNT) {
            throw new BadDataException(file + ": label " + i + " is " + raw[i] + ", expected 1-" + ImageNetClasses.COUNT);
          }
          l[i] = (int) (raw[i] - 1);
        }
        ls.add(l);
        if (n == 0) {
          continue;
        }
        if (data.stored()) {
          ps.add(new Part(file, data.dataOffset(), Files.size(file) - data.dataOffset() - data.dataBytes(), n));
        } else {
          ps.add(new Part(unpacked(dir, file, data), 0, 0, n));
        }
      }
      int[] all = ls.stream().flatMapToInt(java.util.Arrays::stream).toArray();
      if (all.length == 0) {
        throw new BadDataException(dir + ": the " + s.id() + " files hold no images");
      }
      parts.put(s, List.copyOf(ps));
      labels.put(s, all);
    }
    return new Source(dir, spec, parts, labels);
  }

  /** The raw pixel bytes of a compressed 'data' array, unpacked once into the cache. */
  private static Path unpacked(Path dir, Path file, Npz.Array data) throws IOException {
    Path cache = ImageNetClasses.cacheDir(dir, NAME);
    Path out = cache.resolve(file.getFileName() + "." + Files.size(file) + "." + Files.getLastModifiedTime(file).toMillis() + ".u8");
    if (Files.isRegularFile(out) && Files.size(out) == data.dataBytes()) {
      return out;
    }
    Path tmp = Files.createTempFile(cache, "unpack", ".tmp");
    try (OutputStream os = new BufferedOutputStream(Files.newOutputStream(tmp), 1 << 16)) {
      Npz.copyData(file, "data", os);
    } catch (IOException | RuntimeException e) {
      Files.deleteIfExists(tmp);
      throw e;
    }
    Files.move(tmp, out, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    return out;
  }

  private static List<String> concat(List<String> a, List<String> b) {
    List<String> out = new ArrayList<>(a);
    out.addAll(b);
    return out;
  }

  private record Source(Path location, DatasetSpec spec, Map<Split, List<Part>> parts, Map<Split, int[]> labelsBySplit)
      implements ImageSource {

    /**
     * Per file a FixedLengthRecordDataset of 3072-byte records (header/footer skip the rest of the
     * npz) batched into one element; concatenated; {@code [N, 3, 32, 32]} -> HWC {@code [N, 32, 32, 3]}.
     */
    @Override
    public ExampleTable examples(Ops tf, Split split) {
      int n = size(split);
      List<Operand<TUint8>> pieces = new ArrayList<>();
      for (Part p : parts.get(split)) {
        Operand<? extends TType> ds =
            tf.data.fixedLengthRecordDataset(
                tf.constant(StandardCharsets.UTF_8, new String[] {p.file().toString()}),
                tf.constant(p.headerBytes()),
                tf.constant((long) IMAGE_BYTES),
                tf.constant(p.footerBytes()),
                tf.constant(1L << 20),
                tf.constant(""));
        ds = tf.data.zipDataset(List.of(ds), List.of(TString.class), List.of(Shape.scalar()));
        ds = tf.data.batchDataset(ds, tf.constant((long) p.count()), tf.constant(false), List.of(TString.class), List.of(Shape.of(-1)));
        @SuppressWarnings("unchecked")
        Operand<TString> records =
            (Operand<TString>) tf.data.datasetToSingleElement(ds, List.of(TString.class), List.of(Shape.of(-1))).components().get(0);
        Operand<TUint8> bytes = tf.io.decodeRaw(records, TUint8.class); // [n_i, 3072]
        Operand<TUint8> planar = tf.reshape(bytes, tf.constant(new int[] {-1, 3, SIDE, SIDE}));
        pieces.add(tf.ensureShape(tf.linalg.transpose(planar, tf.constant(new int[] {0, 2, 3, 1})), Shape.of(p.count(), SIDE, SIDE, 3)));
      }
      Operand<TUint8> images = pieces.size() == 1 ? pieces.get(0) : tf.concat(pieces, tf.constant(0));
      Operand<TInt32> labels = tf.constant(labelsBySplit.get(split));
      return new ExampleTable(tf.ensureShape(images, Shape.of(n, SIDE, SIDE, 3)), labels);
    }
  }

  @Override
  public FetchResult fetch(Path dataDir, URI baseUrl, ProgressListener progress) throws IOException {
    Path home = Datasets.dataHome(dataDir);
    for (Path d : candidates(dataDir)) {
      if (Files.isRegularFile(d.resolve(TEST_FILES.get(0)))) {
        openDir(d);
        return new FetchResult(d, false, 0);
      }
    }
    throw new IllegalArgumentException("ImageNet 32x32 cannot be downloaded automatically: it needs an"
        + " image-net.org account. Download Imagenet32_train_npz.zip and Imagenet32_val_npz.zip from"
        + " https://image-net.org/download-images (downsampled images), unzip them into "
        + home.resolve(NAME) + " (train_data_batch_1..10.npz, val_data.npz), then run: selfie data inspect --dataset imagenet32");
  }
}
