package dev.selfie.training;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.selfie.data.DatasetSpec;
import dev.selfie.data.formats.FashionMnist;
import dev.selfie.graph.Classifier;
import dev.selfie.graph.Endpoints;
import dev.selfie.graph.Selfie;
import dev.selfie.graph.VarStore;
import dev.selfie.savedmodels.SavedModelExporter;
import dev.selfie.savedmodels.WeightLoader;
import dev.selfie.savedmodels.serving.HostTensor;
import dev.selfie.training.jobs.Export;
import dev.selfie.training.jobs.Finetune;
import dev.selfie.training.jobs.Pretrain;
import dev.selfie.training.run.CheckpointManager;
import dev.selfie.training.run.RunDir;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.SavedModelBundle;
import org.tensorflow.Session;
import org.tensorflow.Tensor;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.proto.DataType;
import org.tensorflow.proto.SignatureDef;
import org.tensorflow.proto.TensorShapeProto;
import org.tensorflow.types.TFloat32;

/**
 * {@code selfie export} of REAL runs (tiny preset, a few steps on generated 28x28 grey images),
 * loaded back with {@code SavedModelBundle.load}: every signature's outputs equal the training
 * code's inference graph (built as Evaluate/Probe build it, checkpoint restored, BN in inference
 * mode) on the same images, preprocessed independently here in Java (pad 28 -> 32, scale,
 * normalise), to 1e-5.
 */
class ExportRoundTripTest {

  static final double TOL = 1e-5;
  static final int N = 5;
  static final DatasetSpec SPEC = FashionMnist.SPEC;

  @Test
  void pretrainingExportMatchesTheTrainingGraph() throws Exception {
    Path run = ExportTestRuns.pretrainRun();
    Pretrain.Config cfg = new RunDir(run).readConfig(Pretrain.Config.class);
    byte[] images = ExportTestRuns.fixedImages(N);
    Map<String, Map<String, float[]>> got = runSavedModel(run.resolve("savedmodel/1"), images,
        Set.of(Endpoints.SERVING_DEFAULT, Endpoints.PATCH_EMBEDDINGS, Endpoints.ATTENTION_POOL));

    Map<String, float[]> want = new LinkedHashMap<>();
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Placeholder<TFloat32> x = tf.placeholder(TFloat32.class,
          Placeholder.shape(Shape.of(-1, 32, 32, 1)));
      VarStore vars = new VarStore(Ops.create(g), cfg.seed());
      Map<String, Operand<TFloat32>> outs = new LinkedHashMap<>();
      outs.put("embedding", Selfie.imageEmbedding(tf, vars, cfg.model(), x, false));
      outs.put("patch_embeddings", Selfie.patchEmbeddings(tf, vars, cfg.model(), x, false));
      outs.put("u", Selfie.attentionPoolAll(tf, vars, cfg.model(), x, null, false));
      want.putAll(runReference(g, x, outs, latestCheckpoint(run), images));
    }
    assertClose(want.get("embedding"), got.get(Endpoints.SERVING_DEFAULT).get("embedding"),
        "serving_default/embedding");
    assertClose(want.get("patch_embeddings"),
        got.get(Endpoints.PATCH_EMBEDDINGS).get("patch_embeddings"),
        "patch_embeddings/patch_embeddings");
    assertClose(want.get("u"), got.get(Endpoints.ATTENTION_POOL).get("u"), "attention_pool/u");
    assertEquals(N * cfg.model().d(), want.get("embedding").length);
    assertEquals(N * 16 * cfg.model().d(), want.get("patch_embeddings").length);
  }

  @Test
  void finetuningExportMatchesTheTrainingGraph() throws Exception {
    Path run = ExportTestRuns.finetuneRun();
    Finetune.Config cfg = new RunDir(run).readConfig(Finetune.Config.class);
    byte[] images = ExportTestRuns.fixedImages(N);
    Map<String, Map<String, float[]>> got = runSavedModel(run.resolve("savedmodel/1"), images,
        Set.of(Endpoints.SERVING_DEFAULT, Endpoints.EMBEDDING));

    Map<String, float[]> want;
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Placeholder<TFloat32> x = tf.placeholder(TFloat32.class,
          Placeholder.shape(Shape.of(-1, 32, 32, 1)));
      VarStore vars = new VarStore(Ops.create(g), cfg.seed());
      Classifier.ClassifierOutputs out =
          Classifier.build(tf, vars, cfg.model(), x, cfg.head(), null, false);
      Map<String, Operand<TFloat32>> outs = new LinkedHashMap<>();
      outs.put("logits", out.logits());
      outs.put("embedding", out.embedding());
      want = runReference(g, x, outs, latestCheckpoint(run), images);
    }
    float[] logits = want.get("logits");
    int k = cfg.model().numClasses();
    assertEquals(N * k, logits.length);
    Map<String, float[]> serving = got.get(Endpoints.SERVING_DEFAULT);
    assertClose(logits, serving.get("logits"), "serving_default/logits");
    assertClose(softmax(logits, k), serving.get("probabilities"), "serving_default/probabilities");
    assertClose(want.get("embedding"), got.get(Endpoints.EMBEDDING).get("embedding"),
        "embedding/embedding");
    float[] classes = serving.get("classes");
    for (int i = 0; i < N; i++) {
      assertEquals(argmax(logits, i, k), (int) classes[i], "classes[" + i + "]");
    }
  }

  @Test
  void signaturesTakeTheDatasetsNativeUint8Images() throws Exception {
    for (Path run : List.of(ExportTestRuns.pretrainRun(), ExportTestRuns.finetuneRun())) {
      try (SavedModelBundle b = SavedModelBundle.load(run.resolve("savedmodel/1").toString(),
          SavedModelExporter.TAG)) {
        Map<String, SignatureDef> sigs = new TreeMap<>(b.metaGraphDef().getSignatureDefMap());
        sigs.remove("__saved_model_init_op");
        assertEquals(run.endsWith("pretrain")
                ? Set.of("serving_default", "patch_embeddings", "attention_pool", "serving_bytes")
                : Set.of("serving_default", "embedding", "serving_bytes"), sigs.keySet(),
            run.toString());
        // serving_bytes: encoded images, string [-1]; its outputs are serving_default's.
        SignatureDef bytes = sigs.remove(Endpoints.SERVING_BYTES);
        assertEquals(Set.of(Endpoints.IMAGE_BYTES), bytes.getInputsMap().keySet());
        assertEquals(DataType.DT_STRING, bytes.getInputsMap().get(Endpoints.IMAGE_BYTES).getDtype());
        assertArrayEquals(new long[] {-1}, bytes.getInputsMap().get(Endpoints.IMAGE_BYTES)
            .getTensorShape().getDimList().stream().mapToLong(TensorShapeProto.Dim::getSize)
            .toArray());
        assertEquals(sigs.get(Endpoints.SERVING_DEFAULT).getOutputsMap().keySet(),
            bytes.getOutputsMap().keySet());
        for (SignatureDef def : sigs.values()) {
          assertEquals(Set.of(Endpoints.IMAGES), def.getInputsMap().keySet());
          assertEquals(DataType.DT_UINT8, def.getInputsMap().get(Endpoints.IMAGES).getDtype());
          assertArrayEquals(new long[] {-1, 28, 28, 1},
              def.getInputsMap().get(Endpoints.IMAGES).getTensorShape().getDimList().stream()
                  .mapToLong(TensorShapeProto.Dim::getSize).toArray());
          assertEquals(SavedModelExporter.PREDICT_METHOD, def.getMethodName());
        }
      }
      Map<String, byte[]> extra = SavedModelExporter.readExtraFiles(run.resolve("savedmodel/1"));
      assertTrue(extra.keySet().containsAll(Set.of(RunDir.CONFIG_FILE, Export.CLASS_NAMES_FILE)),
          extra.keySet().toString());
      assertEquals(String.join("\n", FashionMnist.CLASS_NAMES) + "\n",
          new String(extra.get(Export.CLASS_NAMES_FILE), java.nio.charset.StandardCharsets.UTF_8));
      assertArrayEquals(java.nio.file.Files.readAllBytes(run.resolve("config.json")),
          extra.get(RunDir.CONFIG_FILE));
    }
  }

  // ------------------------------------------------------------------ helpers

  static Path latestCheckpoint(Path run) {
    return Path.of(new CheckpointManager(new RunDir(run).checkpoints(), Integer.MAX_VALUE)
        .latest().orElseThrow().prefix());
  }

  /** Every output of the given signatures, as floats (int64 classes converted). */
  static Map<String, Map<String, float[]>> runSavedModel(Path dir, byte[] images, Set<String> keys) {
    return runSavedModel(dir, images, N, keys);
  }

  /** Every output of the given signatures for {@code n} images [n, 28, 28, 1], as floats. */
  static Map<String, Map<String, float[]>> runSavedModel(Path dir, byte[] images, int n,
      Set<String> keys) {
    Map<String, Map<String, float[]>> out = new TreeMap<>();
    try (SavedModelBundle b = SavedModelBundle.load(dir.toString(), SavedModelExporter.TAG)) {
      for (String key : keys) {
        Map<String, float[]> outs = new TreeMap<>();
        try (Tensor in = HostTensor.ofUint8(new long[] {n, 28, 28, 1}, images).toTensor();
            Result r = b.function(key).call(Map.of(Endpoints.IMAGES, in))) {
          for (Map.Entry<String, Tensor> e : r) {
            HostTensor h = HostTensor.of(e.getValue());
            float[] v = new float[(int) h.size()];
            for (int i = 0; i < v.length; i++) {
              v[i] = (float) h.getDouble(i);
            }
            outs.put(e.getKey(), v);
          }
        }
        out.put(key, outs);
      }
    }
    return out;
  }

  /** Restores the checkpoint into {@code g} and runs the outputs on the preprocessed images. */
  static Map<String, float[]> runReference(Graph g, Placeholder<TFloat32> x,
      Map<String, Operand<TFloat32>> outs, Path checkpoint, byte[] images) throws Exception {
    Map<String, float[]> want = new LinkedHashMap<>();
    try (Session s = new Session(g)) {
      s.initialize();
      WeightLoader.Report report = WeightLoader.restore(s, checkpoint, n -> true, true);
      assertTrue(report.missingInSource().isEmpty(), report.toString());
      Session.Runner runner = s.runner();
      try (Tensor in = HostTensor.ofFloats(new long[] {N, 32, 32, 1}, preprocess(images))
          .toTensor()) {
        runner.feed(x, in);
        outs.values().forEach(runner::fetch);
        try (Result r = runner.run()) {
          int i = 0;
          for (String name : outs.keySet()) {
            want.put(name, HostTensor.of(r.get(i++)).floats());
          }
        }
      }
    }
    return want;
  }

  /**
   * The dataset's preprocessing written out in Java: 28x28 grey centred in 32x32 zeros, then
   * {@code (pixel / 255 - mean) / std}.
   */
  static float[] preprocess(byte[] images) {
    float mean = SPEC.mean()[0];
    float std = SPEC.std()[0];
    float[] out = new float[N * 32 * 32];
    for (int i = 0; i < N; i++) {
      for (int y = 0; y < 32; y++) {
        for (int x = 0; x < 32; x++) {
          int sy = y - 2;
          int sx = x - 2;
          int v = sy >= 0 && sy < 28 && sx >= 0 && sx < 28
              ? images[(i * 28 + sy) * 28 + sx] & 0xff : 0;
          out[(i * 32 + y) * 32 + x] = (float) ((v / 255.0 - mean) / std);
        }
      }
    }
    return out;
  }

  static float[] softmax(float[] logits, int k) {
    float[] p = new float[logits.length];
    for (int i = 0; i < logits.length / k; i++) {
      double max = Double.NEGATIVE_INFINITY;
      for (int j = 0; j < k; j++) {
        max = Math.max(max, logits[i * k + j]);
      }
      double sum = 0;
      for (int j = 0; j < k; j++) {
        sum += Math.exp(logits[i * k + j] - max);
      }
      for (int j = 0; j < k; j++) {
        p[i * k + j] = (float) (Math.exp(logits[i * k + j] - max) / sum);
      }
    }
    return p;
  }

  static int argmax(float[] v, int row, int k) {
    int best = 0;
    for (int j = 1; j < k; j++) {
      if (v[row * k + j] > v[row * k + best]) {
        best = j;
      }
    }
    return best;
  }

  static void assertClose(float[] want, float[] got, String what) {
    assertEquals(want.length, got.length, what + ": length");
    double max = 0;
    for (int i = 0; i < want.length; i++) {
      assertTrue(Float.isFinite(want[i]), what + ": non-finite reference value at " + i);
      max = Math.max(max, Math.abs(want[i] - got[i]));
    }
    System.out.printf("ROUNDTRIP %s: max abs diff %.3g over %d values%n", what, max, want.length);
    assertTrue(max <= TOL, what + ": max abs diff " + max + " > " + TOL);
  }
}
