package dev.selfie.training.jobs;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.selfie.data.Datasets;
import dev.selfie.data.ImageFiles;
import dev.selfie.graph.Endpoints;
import dev.selfie.savedmodels.SavedModelExporter;
import dev.selfie.savedmodels.serving.HostTensor;
import dev.selfie.savedmodels.serving.ModelServer;
import dev.selfie.training.run.Json;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;
import org.tensorflow.proto.DataType;

/**
 * Classifies image files with a finetuned SavedModel ({@code selfie predict}): each file is
 * decoded, fitted to the model's native {@code H x W} as evaluation does (aspect kept: resized to
 * cover, centre cropped; zoomed 256/224 first for ImageNet and folder models) and converted to its
 * channels ({@link ImageFiles}), the batch goes through {@code serving_default}, and the top-k
 * classes by probability come back with the names in {@code assets.extra/class_names.txt}.
 *
 * <p>The native shape is read from the SavedModel itself: the {@code images} input of
 * {@code serving_default} is uint8 {@code [-1, H, W, C]} (see {@link Export}).
 */
public final class Predict {
  private Predict() {}

  /**
   * @param model a SavedModel directory or a run directory with {@code savedmodel/}
   * @param images image files, in output order
   * @param top classes reported per image (capped at the number of classes)
   * @param batchSize images per session run
   */
  public record Options(Path model, List<Path> images, int top, int batchSize) {
    public Options {
      if (model == null) {
        throw new IllegalArgumentException("--model must be given");
      }
      if (images == null || images.isEmpty()) {
        throw new IllegalArgumentException("no image files given");
      }
      if (top < 1) {
        throw new IllegalArgumentException("--top must be >= 1, got " + top);
      }
      if (batchSize < 1) {
        throw new IllegalArgumentException("--batch-size must be >= 1, got " + batchSize);
      }
      images = List.copyOf(images);
    }
  }

  /** One class of an image's top-k: its index, name and probability. */
  public record Prediction(int index, String className, double probability) {}

  /** The top-k of one file, most probable first. */
  public record Result(Path file, List<Prediction> top) {}

  /** Loads the model, reads every file (all before any is run), returns the top-k per file. */
  public static List<Result> run(Options o) {
    try (Model m = Model.load(ModelDir.resolve(o.model(), "--model"))) {
      int per = m.height() * m.width() * m.channels();
      byte[] all = new byte[Math.multiplyExact(per, o.images().size())];
      List<String> errors = new ArrayList<>();
      for (int i = 0; i < o.images().size(); i++) {
        try {
          byte[] px = ImageFiles.read(o.images().get(i), m.height(), m.width(), m.channels(),
              m.evalResize());
          System.arraycopy(px, 0, all, i * per, per);
        } catch (IllegalArgumentException e) {
          errors.add(e.getMessage());
        }
      }
      if (!errors.isEmpty()) {
        throw new IllegalArgumentException(errors.size() == 1 ? errors.get(0)
            : errors.size() + " unreadable image files: " + String.join("; ", errors));
      }
      List<Result> out = new ArrayList<>();
      for (int from = 0; from < o.images().size(); from += o.batchSize()) {
        int to = Math.min(o.images().size(), from + o.batchSize());
        List<List<Prediction>> top =
            m.predict(Arrays.copyOfRange(all, from * per, to * per), to - from, o.top());
        for (int i = from; i < to; i++) {
          out.add(new Result(o.images().get(i), top.get(i - from)));
        }
      }
      return out;
    }
  }

  /** {@code file  class_name  probability}, one line per class of each top-k. */
  public static String formatText(List<Result> results) {
    StringBuilder sb = new StringBuilder();
    for (Result r : results) {
      for (Prediction p : r.top()) {
        sb.append(r.file()).append("  ").append(p.className()).append("  ")
            .append(String.format(java.util.Locale.ROOT, "%.4f", p.probability())).append('\n');
      }
    }
    return sb.toString();
  }

  /**
   * {@code [{"file": ..., "predictions": [{"class": name, "index": k, "probability": p}, ...]}]}.
   */
  public static String formatJson(List<Result> results) {
    ArrayNode arr = Json.MAPPER.createArrayNode();
    for (Result r : results) {
      ObjectNode o = arr.addObject();
      o.put("file", r.file().toString());
      ArrayNode preds = o.putArray("predictions");
      for (Prediction p : r.top()) {
        preds.addObject().put("class", p.className()).put("index", p.index())
            .put("probability", p.probability());
      }
    }
    try {
      return Json.MAPPER.writeValueAsString(arr) + "\n";
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * A loaded classifier SavedModel: native input size, class names, and probabilities for uint8
   * images {@code [N, H, W, C]}.
   */
  public static final class Model implements AutoCloseable {
    private final ModelServer server;
    private final int height;
    private final int width;
    private final int channels;
    private final List<String> classNames;
    private final double evalResize;

    private Model(ModelServer server, int height, int width, int channels,
        List<String> classNames, double evalResize) {
      this.server = server;
      this.height = height;
      this.width = width;
      this.channels = channels;
      this.classNames = classNames;
      this.evalResize = evalResize;
    }

    /**
     * Loads the SavedModel in {@code dir} and checks that it is a classifier: {@code
     * serving_default} takes uint8 {@code images [-1, H, W, C]} and outputs {@code
     * probabilities [N, K]}.
     */
    public static Model load(Path dir) {
      ModelServer server = ModelServer.load(dir,
          new ModelServer.Options(Integer.MAX_VALUE, Duration.ZERO, 16, 1));
      try {
        ModelServer.SignatureSpec sig = server.signatures().get(Endpoints.SERVING_DEFAULT);
        if (sig == null) {
          throw new IllegalArgumentException(dir + ": the SavedModel has no "
              + Endpoints.SERVING_DEFAULT + " signature (it has " + server.signatures().keySet()
              + ")");
        }
        ModelServer.TensorSpec in = sig.inputs().get(Endpoints.IMAGES);
        if (sig.inputs().size() != 1 || in == null || in.dtype() != DataType.DT_UINT8
            || in.shape() == null || in.shape().length != 4
            || Arrays.stream(in.shape()).skip(1).anyMatch(d -> d < 1)) {
          throw new IllegalArgumentException(dir + ": " + Endpoints.SERVING_DEFAULT
              + " must take one uint8 input '" + Endpoints.IMAGES + "' [-1, H, W, C] with known"
              + " H, W, C; it takes " + describe(sig.inputs()));
        }
        ModelServer.TensorSpec probs = sig.outputs().get(Endpoints.PROBABILITIES);
        if (probs == null || probs.dtype() != DataType.DT_FLOAT) {
          throw new IllegalArgumentException(dir + ": " + Endpoints.SERVING_DEFAULT
              + " outputs " + sig.outputs().keySet() + ", not float '"
              + Endpoints.PROBABILITIES + "': predict needs a finetuned classifier (a"
              + " pretraining export gives embeddings only)");
        }
        long k = probs.shape() != null && probs.shape().length == 2 ? probs.shape()[1] : -1;
        List<String> names = classNames(dir, k);
        return new Model(server, (int) in.shape()[1], (int) in.shape()[2], (int) in.shape()[3],
            names, evalResize(dir));
      } catch (RuntimeException e) {
        server.close();
        throw e;
      }
    }

    private static String describe(Map<String, ModelServer.TensorSpec> specs) {
      StringBuilder sb = new StringBuilder();
      specs.forEach((n, t) -> sb.append(sb.length() == 0 ? "" : ", ").append(n).append(' ')
          .append(t.dtype()).append(' ').append(t.shape() == null ? "<unknown rank>"
              : Arrays.toString(t.shape())));
      return sb.length() == 0 ? "no inputs" : sb.toString();
    }

    /**
     * The evaluation resize of the dataset named in {@code assets.extra/dataset.json} (see {@code
     * DatasetProvider.evalResize}); 1 when the file or the name is unknown.
     */
    public static double evalResize(Path dir) {
      Path f = dir.resolve(SavedModelExporter.EXTRA_DIR).resolve(RunData.FILE);
      if (!Files.isRegularFile(f)) {
        return 1.0;
      }
      String name = Json.read(f, com.fasterxml.jackson.databind.JsonNode.class).path("name")
          .asText("");
      return Datasets.names().contains(name) ? Datasets.provider(name).evalResize() : 1.0;
    }

    /** How image files are zoomed before the centre crop ({@link ImageFiles#fit}). */
    public double evalResize() {
      return evalResize;
    }

    /** {@code assets.extra/class_names.txt} (k lines if k is known); {@code class_i} if absent. */
    private static List<String> classNames(Path dir, long k) {
      byte[] file;
      try {
        file = SavedModelExporter.readExtraFiles(dir).get(Export.CLASS_NAMES_FILE);
      } catch (IOException e) {
        throw new UncheckedIOException("cannot read " + dir.resolve(SavedModelExporter.EXTRA_DIR)
            + ": " + e.getMessage(), e);
      }
      if (file == null) {
        return null;
      }
      List<String> names = new ArrayList<>(
          new String(file, StandardCharsets.UTF_8).lines().map(String::strip).toList());
      while (!names.isEmpty() && names.get(names.size() - 1).isEmpty()) {
        names.remove(names.size() - 1);
      }
      if (k > 0 && names.size() != k) {
        throw new IllegalArgumentException(dir.resolve(SavedModelExporter.EXTRA_DIR)
            .resolve(Export.CLASS_NAMES_FILE) + " lists " + names.size()
            + " class names, but the model has " + k + " classes");
      }
      return List.copyOf(names);
    }

    /** Native input height H. */
    public int height() {
      return height;
    }

    /** Native input width W. */
    public int width() {
      return width;
    }

    /** Input channels C (1 grey, 3 RGB). */
    public int channels() {
      return channels;
    }

    /** The name of class {@code k} ({@code class_k} if the model ships no names). */
    public String className(int k) {
      return classNames == null ? "class_" + k : classNames.get(k);
    }

    /** The SavedModel directory. */
    public Path directory() {
      return server.directory();
    }

    /**
     * {@code probabilities} for {@code n} images.
     *
     * @param images uint8 {@code [n, H, W, C]} row-major
     * @return {@code [n][K]}
     */
    public float[][] probabilities(byte[] images, int n) {
      HostTensor in = HostTensor.ofUint8(new long[] {n, height, width, channels}, images);
      HostTensor p = server.predict(Endpoints.SERVING_DEFAULT, Map.of(Endpoints.IMAGES, in))
          .get(Endpoints.PROBABILITIES);
      float[] flat = p.floats();
      int k = flat.length / n;
      float[][] out = new float[n][];
      for (int i = 0; i < n; i++) {
        out[i] = Arrays.copyOfRange(flat, i * k, (i + 1) * k);
      }
      return out;
    }

    /** The {@code top} most probable classes of each of {@code n} images (ties: lower index). */
    public List<List<Prediction>> predict(byte[] images, int n, int top) {
      List<List<Prediction>> out = new ArrayList<>();
      for (float[] p : probabilities(images, n)) {
        out.add(IntStream.range(0, p.length).boxed()
            .sorted(Comparator.comparingDouble((Integer k) -> -p[k]).thenComparing(k -> k))
            .limit(top)
            .map(k -> new Prediction(k, className(k), p[k]))
            .toList());
      }
      return out;
    }

    @Override
    public void close() {
      server.close();
    }
  }
}
