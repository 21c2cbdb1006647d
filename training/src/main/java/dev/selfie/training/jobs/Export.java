package dev.selfie.training.jobs;

import com.fasterxml.jackson.databind.JsonNode;
import dev.selfie.data.DatasetSpec;
import dev.selfie.data.ImageBytes;
import dev.selfie.data.pipeline.Preprocess;
import dev.selfie.graph.Classifier;
import dev.selfie.graph.Endpoints;
import dev.selfie.graph.ModelConfig;
import dev.selfie.graph.Selfie;
import dev.selfie.graph.VarStore;
import dev.selfie.savedmodels.SavedModelExporter;
import dev.selfie.savedmodels.WeightLoader;
import dev.selfie.training.run.CheckpointManager;
import dev.selfie.training.run.Json;
import dev.selfie.training.run.RunDir;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Session;
import org.tensorflow.Signature;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt64;
import org.tensorflow.types.TString;
import org.tensorflow.types.TUint8;

/**
 * Exports a run's newest checkpoint as a SavedModel in {@code RUN_DIR/savedmodel/<version>}
 * (TensorFlow Serving's layout; version 1 unless given): a fresh
 * inference graph (BN in inference mode, no optimizer ops) whose input is the dataset's raw uint8
 * images {@code [N, H, W, C]}; padding and normalisation are inside the graph.
 *
 * <ul>
 *   <li>pretraining run: {@code serving_default} (images -> {@code embedding} [N, d], the patch
 *       network on the whole image, pooled), {@code patch_embeddings} (images -> h [N, n, d]),
 *       {@code attention_pool} (images -> u [N, d], attention pooling over all n patches);
 *   <li>finetuning run: {@code serving_default} (images -> {@code logits} [N, K],
 *       {@code probabilities} [N, K], {@code classes} int64 [N]), {@code embedding} (images ->
 *       the classifier's input features).
 * </ul>
 *
 * Extra files ({@code assets.extra/}): {@code config.json} (the run's config) and
 * {@code class_names.txt} (one per line, index order), {@code dataset.json} (the dataset spec the run
 * was trained with: sizes, class names, normalisation; for folders the class names come from it).
 */
public final class Export {
  private static final Logger LOG = LoggerFactory.getLogger(Export.class);

  private Export() {}

  /** File names of the extras. */
  public static final String CLASS_NAMES_FILE = dev.selfie.graph.Endpoints.CLASS_NAMES_FILE;

  /** Exports the run in {@code runDir} from its newest checkpoint as version 1. */
  public static Path run(Path runDir) throws IOException {
    return run(runDir, 1);
  }

  /**
   * Exports the run in {@code runDir} from its newest checkpoint into {@code
   * RUN/savedmodel/<version>/} (replacing that version if it exists), the layout TensorFlow
   * Serving and {@code selfie serve} load.
   */
  public static Path run(Path runDir, long version) throws IOException {
    if (version < 1) {
      throw new IllegalArgumentException("--version must be >= 1, got " + version);
    }
    RunDir dir = new RunDir(runDir);
    if (SavedModelExporter.isSavedModel(dir.savedModel())) {
      throw new IllegalArgumentException(dir.savedModel() + " holds an unversioned SavedModel"
          + " from an older export; models now live in savedmodel/<version>/: move its files"
          + " into " + dir.savedModel(1) + "/ (or delete it) and export again");
    }
    if (!Files.isRegularFile(dir.config())) {
      throw new IllegalArgumentException("--run " + runDir + ": no config.json (expected a"
          + " pretraining or finetuning run directory)");
    }
    JsonNode cfg = Json.MAPPER.readTree(dir.config().toFile());
    String kind = cfg.path("kind").asText();
    CheckpointManager.Checkpoint ckpt = new CheckpointManager(dir.checkpoints(), Integer.MAX_VALUE)
        .latest().orElseThrow(() -> new IllegalArgumentException("--run " + runDir
            + ": no valid checkpoint under " + dir.checkpoints()));
    ModelConfig model;
    String dataset;
    Classifier.Head head = null;
    switch (kind) {
      case "pretrain" -> {
        Pretrain.Config c = dir.readConfig(Pretrain.Config.class);
        model = c.model();
        dataset = c.dataset();
      }
      case "finetune" -> {
        Finetune.Config c = dir.readConfig(Finetune.Config.class);
        model = c.model();
        dataset = c.dataset();
        head = c.head();
      }
      default -> throw new IllegalArgumentException(dir.config() + ": unknown run kind \""
          + kind + "\" (expected pretrain or finetune)");
    }
    DatasetSpec spec = RunData.spec(dir, dataset);
    long t0 = System.nanoTime();
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      // Encoded images decoded and fitted in the graph (serving_bytes) are the default of the
      // uint8 images input: feeding `images` (serving_default) skips the decoding.
      Placeholder<TString> imageBytes = tf.withName(Endpoints.IMAGE_BYTES)
          .placeholder(TString.class, Placeholder.shape(Shape.of(-1)));
      Operand<TUint8> decoded = ImageBytes.decodeAndFit(tf.withSubScope("decode"), imageBytes,
          spec.height(), spec.width(), spec.channels(), evalResize(spec.name()));
      Operand<TUint8> images = tf.withName(Endpoints.IMAGES).placeholderWithDefault(decoded,
          Shape.of(-1, spec.height(), spec.width(), spec.channels()));
      Operand<TFloat32> x = Preprocess.fromUint8(tf.withSubScope("preprocess"), images, spec);
      VarStore vars = new VarStore(Ops.create(g));
      java.util.List<Signature> signatures = new java.util.ArrayList<>();
      if (head == null) {
        Operand<TFloat32> embedding = tf.withName(Endpoints.EMBEDDING_OUTPUT)
            .identity(Selfie.imageEmbedding(tf, vars, model, x, false));
        Operand<TFloat32> patches = tf.withName(Endpoints.PATCH_EMBEDDINGS_OUTPUT)
            .identity(Selfie.patchEmbeddings(tf, vars, model, x, false));
        Operand<TFloat32> pooled = tf.withName(Endpoints.POOLED_OUTPUT)
            .identity(Selfie.attentionPoolAll(tf, vars, model, x, null, false));
        signatures.add(signature(Endpoints.SERVING_DEFAULT, images)
            .output(Endpoints.EMBEDDING_OUTPUT, embedding).build());
        signatures.add(bytesSignature(imageBytes)
            .output(Endpoints.EMBEDDING_OUTPUT, embedding).build());
        signatures.add(signature(Endpoints.PATCH_EMBEDDINGS, images)
            .output(Endpoints.PATCH_EMBEDDINGS_OUTPUT, patches).build());
        signatures.add(signature(Endpoints.ATTENTION_POOL, images)
            .output(Endpoints.POOLED_OUTPUT, pooled).build());
      } else {
        Classifier.ClassifierOutputs out = Classifier.build(tf, vars, model, x, head, null, false);
        Operand<TFloat32> logits = tf.withName(Endpoints.LOGITS).identity(out.logits());
        Operand<TFloat32> probabilities =
            tf.withName(Endpoints.PROBABILITIES).nn.softmax(out.logits());
        Operand<TInt64> classes = tf.withName(Endpoints.CLASSES)
            .math.argMax(out.logits(), tf.constant(-1), TInt64.class);
        Operand<TFloat32> embedding =
            tf.withName(Endpoints.EMBEDDING_OUTPUT).identity(out.embedding());
        signatures.add(signature(Endpoints.SERVING_DEFAULT, images)
            .output(Endpoints.LOGITS, logits)
            .output(Endpoints.PROBABILITIES, probabilities)
            .output(Endpoints.CLASSES, classes).build());
        signatures.add(bytesSignature(imageBytes)
            .output(Endpoints.LOGITS, logits)
            .output(Endpoints.PROBABILITIES, probabilities)
            .output(Endpoints.CLASSES, classes).build());
        signatures.add(signature(Endpoints.EMBEDDING, images)
            .output(Endpoints.EMBEDDING_OUTPUT, embedding).build());
      }
      try (Session s = new Session(g)) {
        s.initialize();
        WeightLoader.Report report =
            WeightLoader.restore(s, Path.of(ckpt.prefix()), n -> true, true);
        Path target = new SavedModelExporter(s)
            .signatures(signatures)
            .extraFile(RunDir.CONFIG_FILE, Files.readAllBytes(dir.config()))
            .extraFile(CLASS_NAMES_FILE, String.join("\n", spec.classNames()) + "\n")
            .extraFile(RunData.FILE, Json.MAPPER.writeValueAsBytes(spec))
            .export(dir.savedModel(version));
        LOG.info(String.format(
            "exported %s (%s run, checkpoint step %d, %d variables) to %s in %.1f s",
            String.join(", ", signatures.stream().map(Signature::key).toList()), kind,
            ckpt.step(), report.restored().size(), target, (System.nanoTime() - t0) / 1e9));
        return target;
      }
    }
  }

  /** serving_default's outputs from encoded images [N] (decoded and fitted in the graph). */
  private static Signature.Builder bytesSignature(Operand<TString> imageBytes) {
    return Signature.builder().key(Endpoints.SERVING_BYTES)
        .methodName(SavedModelExporter.PREDICT_METHOD).input(Endpoints.IMAGE_BYTES, imageBytes);
  }

  /** How image files are zoomed before the centre crop: the dataset's evaluation resize. */
  private static double evalResize(String dataset) {
    return dev.selfie.data.Datasets.names().contains(dataset)
        ? dev.selfie.data.Datasets.provider(dataset).evalResize() : 1.0;
  }

  private static Signature.Builder signature(String key, Operand<TUint8> images) {
    return Signature.builder().key(key).methodName(SavedModelExporter.PREDICT_METHOD)
        .input(Endpoints.IMAGES, images);
  }
}
