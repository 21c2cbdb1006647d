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
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
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
import java.util.TreeMap;
import java.util.stream.Stream;
import org.tensorflow.Operand;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Constant;
import org.tensorflow.types.TString;
import org.tensorflow.types.family.TType;

/**
 * ImageNet (ILSVRC-2012) at 224x224 from TFRecord shards (DESIGN.md section 2), as written by the
 * usual ImageNet-to-TFRecord scripts: {@code train-*-of-*} and {@code validation-*-of-*} (the test
 * split), records are tf.train.Example with {@code image/encoded} (JPEG) and {@code
 * image/class/label} (int64 1..1000, stored 0..999).
 *
 * <p>Streamed ({@link StreamingSource}): TFRecordDataset (the V1 op) -> parse the Example -> decode
 * the JPEG -> random-resized-crop + flip (training) or resize-256 / centre-crop-224 (evaluation).
 * Label fractions and counts need every label: on first open each shard is read once in Java
 * (both CRCs checked, Examples parsed, images checked by {@link ImageChecks}) and its labels are
 * cached in an index ({@code .selfie-cache/} beside the shards, or under the data home if that is
 * read-only; rebuilt when a shard's size or time changes). For the real dataset (~150 GB) that first
 * open reads everything once. A CRC mismatch or a truncated record is a clear error naming the shard
 * and byte offset (TensorFlow would fail mid-epoch on it); a record whose image is missing, not a
 * JPEG or is truncated is skipped and counted (the source's {@code warnings()}); a label outside 1..1000 is an
 * error.
 */
public final class ImageNet implements DatasetProvider {

  public static final String NAME = "imagenet";
  public static final int DEFAULT_SIZE = 224;
  public static final Map<Split, String> PREFIX = Map.of(Split.TRAIN, "train-", Split.TEST, "validation-");
  /** Shuffle buffer in records (~110 KB each: ~450 MB). */
  public static final int SHUFFLE_BUFFER = 4096;

  @Override
  public double evalResize() {
    return StreamPipelines.EVAL_RESIZE;
  }

  @Override
  public String name() {
    return NAME;
  }

  @Override
  public DatasetSpec spec() {
    return spec(DEFAULT_SIZE, ImageNetClasses.generic());
  }

  static DatasetSpec spec(int size, List<String> names) {
    return new DatasetSpec(NAME, size, size, 3, size, ImageNetClasses.COUNT, names, ImageNetClasses.MEAN, ImageNetClasses.STD);
  }

  static List<Path> candidates(Path dataDir) {
    Path home = Datasets.dataHome(dataDir);
    return List.of(home.resolve(NAME), home);
  }

  @Override
  public ImageSource open(Path dataDir) throws IOException {
    return open(dataDir, OpenOptions.DEFAULT);
  }

  @Override
  public ImageSource open(Path dataDir, OpenOptions options) throws IOException {
    List<Path> c = candidates(dataDir);
    for (Path d : c) {
      if (!shards(d, Split.TRAIN).isEmpty() || !shards(d, Split.TEST).isEmpty()) {
        return openDir(d, options.imageSizeOr(DEFAULT_SIZE));
      }
    }
    throw new NoSuchFileException(c.get(0).toString(), null,
        "ImageNet TFRecord shards not found: expected train-*-of-* and validation-*-of-* files"
            + " (tf.train.Example with image/encoded JPEG and image/class/label 1..1000) in one of " + c);
  }

  static List<Path> shards(Path dir, Split split) throws IOException {
    if (!Files.isDirectory(dir)) {
      return List.of();
    }
    try (Stream<Path> s = Files.list(dir)) {
      return s.filter(p -> p.getFileName().toString().startsWith(PREFIX.get(split)) && Files.isRegularFile(p))
          .filter(p -> !p.getFileName().toString().endsWith(".idx"))
          .sorted().toList();
    }
  }

  /** Opens the directory of shards, images resized to {@code size}. */
  public static ImageSource openDir(Path dir, int size) throws IOException {
    DatasetSpec spec = spec(size, ImageNetClasses.find(dir));
    Map<Split, List<Path>> files = new EnumMap<>(Split.class);
    Map<Split, int[]> labels = new EnumMap<>(Split.class);
    Map<Split, int[]> ordinals = new EnumMap<>(Split.class);
    Map<Split, Integer> records = new EnumMap<>(Split.class);
    List<String> warnings = new ArrayList<>();
    for (Split s : Split.values()) {
      List<Path> shards = shards(dir, s);
      if (shards.isEmpty()) {
        throw new NoSuchFileException(dir.resolve(PREFIX.get(s) + "*").toString(), null,
            "ImageNet: no " + PREFIX.get(s) + "*-of-* TFRecord shards for the " + s.id() + " split");
      }
      List<Integer> lab = new ArrayList<>();
      List<Integer> ord = new ArrayList<>();
      Map<String, Integer> skipped = new TreeMap<>();
      List<String> examples = new ArrayList<>();
      int base = 0;
      for (Path shard : shards) {
        int[] idx = index(dir, shard, skipped, examples);
        for (int i = 0; i < idx.length; i++) {
          if (idx[i] >= 0) {
            lab.add(idx[i]);
            ord.add(base + i);
          }
        }
        base += idx.length;
      }
      if (lab.isEmpty()) {
        throw new BadDataException(dir + ": the " + s.id() + " shards hold no usable images (" + base + " records)");
      }
      int bad = base - lab.size();
      if (bad > 0) {
        String w = "imagenet " + s.id() + ": skipped " + bad + " of " + base + " records whose image is unusable "
            + skipped + "; e.g. " + examples;
        warnings.add(w);
        System.getLogger(ImageNet.class.getName()).log(System.Logger.Level.WARNING, w);
      }
      files.put(s, shards);
      labels.put(s, lab.stream().mapToInt(Integer::intValue).toArray());
      ordinals.put(s, ord.stream().mapToInt(Integer::intValue).toArray());
      records.put(s, base);
    }
    return new Source(dir, spec, files, labels, ordinals, records, List.copyOf(warnings));
  }

  /** Index format version (first int of an index file). */
  private static final int INDEX_VERSION = 2;

  /**
   * Per record of the shard: its label 0..999, or -1 if its image is unusable (reason counted in
   * {@code skipped}). Cached; computed by reading the shard with both CRCs checked.
   */
  static int[] index(Path dir, Path shard, Map<String, Integer> skipped, List<String> examples) throws IOException {
    Path cache = ImageNetClasses.cacheDir(dir, NAME)
        .resolve(shard.getFileName() + "." + Files.size(shard) + "." + Files.getLastModifiedTime(shard).toMillis() + ".idx");
    if (Files.isRegularFile(cache)) {
      try (DataInputStream in = new DataInputStream(new java.io.BufferedInputStream(Files.newInputStream(cache)))) {
        if (in.readInt() == INDEX_VERSION) {
          int n = in.readInt();
          int[] out = new int[n];
          for (int i = 0; i < n; i++) {
            out[i] = in.readInt();
          }
          int reasons = in.readInt();
          for (int r = 0; r < reasons; r++) {
            skipped.merge(in.readUTF(), in.readInt(), Integer::sum);
          }
          int ex = in.readInt();
          for (int r = 0; r < ex; r++) {
            String e = in.readUTF();
            if (examples.size() < 5) {
              examples.add(e);
            }
          }
          return out;
        }
      } catch (IOException e) {
        // unreadable cache: rebuild below
      }
    }
    List<Integer> labels = new ArrayList<>();
    Map<String, Integer> mine = new TreeMap<>();
    List<String> myExamples = new ArrayList<>();
    TFRecords.read(shard, (i, offset, data) -> {
      String where = shard + " record " + i + " (byte " + offset + ")";
      TFRecords.ImageRecord r = TFRecords.parseImageExample(data, where);
      if (r.label() == null) {
        throw new BadDataException(where + ": no int64 " + TFRecords.LABEL_KEY + " feature");
      }
      if (r.label() < 1 || r.label() > ImageNetClasses.COUNT) {
        throw new BadDataException(where + ": " + TFRecords.LABEL_KEY + " is " + r.label() + ", expected 1-" + ImageNetClasses.COUNT);
      }
      String problem = r.encoded() == null ? "no " + TFRecords.IMAGE_KEY + " bytes" : ImageChecks.problem(r.encoded());
      if (problem == null && !ImageChecks.isJpeg(r.encoded())) {
        problem = "not a JPEG";
      }
      if (problem != null) {
        mine.merge(problem, 1, Integer::sum);
        if (myExamples.size() < 5) {
          myExamples.add(shard.getFileName() + "#" + i + ": " + problem);
        }
        labels.add(-1);
      } else {
        labels.add((int) (r.label() - 1));
      }
    });
    int[] out = labels.stream().mapToInt(Integer::intValue).toArray();
    mine.forEach((k, v) -> skipped.merge(k, v, Integer::sum));
    for (String e : myExamples) {
      if (examples.size() < 5) {
        examples.add(e);
      }
    }
    try {
      Path tmp = Files.createTempFile(cache.getParent(), "index", ".tmp");
      try (DataOutputStream os = new DataOutputStream(new java.io.BufferedOutputStream(Files.newOutputStream(tmp)))) {
        os.writeInt(INDEX_VERSION);
        os.writeInt(out.length);
        for (int v : out) {
          os.writeInt(v);
        }
        os.writeInt(mine.size());
        for (Map.Entry<String, Integer> e : mine.entrySet()) {
          os.writeUTF(e.getKey());
          os.writeInt(e.getValue());
        }
        os.writeInt(myExamples.size());
        for (String e : myExamples) {
          os.writeUTF(e);
        }
      }
      Files.move(tmp, cache, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    } catch (IOException e) {
      // a cache we cannot write only costs time on the next open
    }
    return out;
  }

  private record Source(
      Path location, DatasetSpec spec, Map<Split, List<Path>> files, Map<Split, int[]> labelsBySplit,
      Map<Split, int[]> ordinals, Map<Split, Integer> records, List<String> warnings) implements StreamingSource {

    @Override
    public int recordCount(Split split) {
      return records.get(split);
    }

    @Override
    public int[] recordOrdinals(Split split) {
      return ordinals.get(split).clone();
    }

    /** TFRecordDataset, the V1 op (3 inputs): the typed V2 wrapper fails to build in TF Java 1.1.0. */
    @Override
    public Operand<? extends TType> records(Ops tf, Split split) {
      String[] names = files.get(split).stream().map(Path::toString).toArray(String[]::new);
      Constant<TString> fileNames = tf.constant(StandardCharsets.UTF_8, names);
      return tf.scope().opBuilder("TFRecordDataset", "TFRecordDataset")
          .addInput(fileNames.asOutput())
          .addInput(tf.constant("").asOutput())
          .addInput(tf.constant(4L << 20).asOutput())
          .build()
          .output(0);
    }

    @Override
    public Operand<TString> imageBytes(Ops ftf, Operand<TString> record) {
      @SuppressWarnings("unchecked")
      Operand<TString> bytes = (Operand<TString>) ftf.io.parseSingleExample(
          record, List.of(ftf.constant("")), 0L, List.of(), List.of(TFRecords.IMAGE_KEY), List.of(),
          List.of(Shape.scalar())).denseValues().get(0);
      return bytes;
    }

    @Override
    public int shuffleBuffer(Split split) {
      return SHUFFLE_BUFFER;
    }

    /** Records whose image is not a JPEG are skipped on open (the format says JPEG). */
    @Override
    public boolean jpegOnly() {
      return true;
    }
  }

  @Override
  public FetchResult fetch(Path dataDir, URI baseUrl, ProgressListener progress) throws IOException {
    Path home = Datasets.dataHome(dataDir);
    for (Path d : candidates(dataDir)) {
      if (!shards(d, Split.TEST).isEmpty()) {
        openDir(d, DEFAULT_SIZE);
        return new FetchResult(d, false, 0);
      }
    }
    throw new IllegalArgumentException("ImageNet cannot be downloaded automatically: it needs an"
        + " image-net.org account. Convert ILSVRC-2012 to TFRecord shards (train-00000-of-01024 ...,"
        + " validation-00000-of-00128 ...) with the usual ImageNet-to-TFRecord script into "
        + home.resolve(NAME) + ", then run: selfie data inspect --dataset imagenet");
  }

}
