package dev.selfie.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.selfie.graph.Endpoints;
import dev.selfie.savedmodels.SavedModelExporter;
import dev.selfie.savedmodels.serving.HostTensor;
import dev.selfie.savedmodels.serving.ModelServer;
import dev.selfie.training.jobs.Export;
import dev.selfie.training.jobs.Predict;
import dev.selfie.training.run.Json;
import dev.selfie.training.run.RunDir;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The Java half of the Python interop check on the REAL Selfie SavedModels: copies the exports of
 * a pretraining and a finetuning run (tiny preset, {@link ExportTestRuns}) to
 * {@code <selfie.interop.dir>/selfie-pretrain/saved_model} and {@code .../selfie-finetune/}, and
 * writes {@code expected.json} beside each: fixed uint8 images in the dataset's native shape
 * {@code [6, 28, 28, 1]} and the outputs Java computed for every signature, in the format of
 * {@code ci/python/test_interop.py} (which loads the model with {@code tf.saved_model.load} and
 * compares, max abs diff <= {@value #ATOL}). {@code selfie.interop.dir} is set by the poms to
 * {@code target/interop} at the repository root, beside the savedmodels module's {@code tiny}
 * case.
 */
class InteropCasesTest {

  static final double ATOL = 1e-4;
  static final int N = 6;

  static Path interopDir() {
    return Path.of(System.getProperty("selfie.interop.dir", "../target/interop"))
        .toAbsolutePath().normalize();
  }

  @Test
  void pretrainingCase() throws Exception {
    Path run = ExportTestRuns.pretrainRun();
    Path caseDir = writeCase("selfie-pretrain", run, "pretrain");
    JsonNode e = Json.MAPPER.readTree(caseDir.resolve("expected.json").toFile());
    assertEquals(List.of("attention_pool", "patch_embeddings", "serving_default"),
        fieldNames(e.path("signatures")));
    assertEquals(List.of(N, 16, 32), ints(e.at("/signatures/patch_embeddings/outputs/"
        + "patch_embeddings/shape")));
  }

  @Test
  void finetuningCase() throws Exception {
    Path run = ExportTestRuns.finetuneRun();
    Path caseDir = writeCase("selfie-finetune", run, "finetune");
    writePredictFiles(caseDir);
    assertEquals(5, Json.MAPPER.readTree(caseDir.resolve("predict.json").toFile())
        .path("probabilities").size());
    JsonNode e = Json.MAPPER.readTree(caseDir.resolve("expected.json").toFile());
    assertEquals(List.of("embedding", "serving_default"), fieldNames(e.path("signatures")));
    assertEquals("int64", e.at("/signatures/serving_default/outputs/classes/dtype").asText());
    assertEquals(List.of(N, 10), ints(e.at("/signatures/serving_default/outputs/logits/shape")));
  }

  /** Copies the run's SavedModel into {@code <dir>/<name>/saved_model}, writes expected.json. */
  static Path writeCase(String name, Path run, String kind) throws IOException {
    Path caseDir = interopDir().resolve(name);
    ExportTestRuns.deleteQuietly(caseDir);
    Files.createDirectories(caseDir);
    Path savedModel = caseDir.resolve("saved_model");
    copyTree(run.resolve("savedmodel/1"), savedModel);
    assertTrue(SavedModelExporter.isSavedModel(savedModel));

    HostTensor images = HostTensor.ofUint8(new long[] {N, 28, 28, 1},
        ExportTestRuns.fixedImages(N));
    ObjectNode root = Json.MAPPER.createObjectNode();
    root.put("atol", ATOL);
    root.put("saved_model", "saved_model");
    ArrayNode extras = root.putArray("extra_files");
    extras.add(Export.CLASS_NAMES_FILE);
    extras.add(RunDir.CONFIG_FILE);
    // Python checks that assets.extra/config.json holds these.
    root.putObject("config_contains").put("kind", kind).put("dataset", "fashion-mnist")
        .put("preset", "tiny");
    ObjectNode sigs = root.putObject("signatures");
    try (ModelServer model = ModelServer.load(savedModel,
        new ModelServer.Options(64, Duration.ZERO, 16, 1))) {
      for (String key : model.signatures().keySet()) {
        if (key.equals(Endpoints.SERVING_BYTES)) {
          continue; // takes encoded images: checked by predict.json (finetuning case)
        }
        Map<String, HostTensor> out = model.predict(key, Map.of(Endpoints.IMAGES, images));
        ObjectNode sig = sigs.putObject(key);
        put(sig.putObject("inputs"), Endpoints.IMAGES, images);
        ObjectNode outs = sig.putObject("outputs");
        out.forEach((n, t) -> put(outs, n, t));
      }
    }
    Json.writeAtomic(caseDir.resolve("expected.json"), root);
    return caseDir;
  }

  /**
   * For {@code ci/python/test_serving_bytes.py}: a few PNG files (of other sizes and channels
   * than the model's) in {@code <case>/image_files/} and {@code predict.json}, what
   * {@code selfie predict} answers for them: {@code {"files": [...], "probabilities": [[...]],
   * "classes": [...]}}.
   */
  static void writePredictFiles(Path caseDir) throws Exception {
    Path files = caseDir.resolve("image_files");
    Files.createDirectories(files);
    List<Path> images = ServingBytesTest.files(files);
    Path model = caseDir.resolve("saved_model");
    ObjectNode root = Json.MAPPER.createObjectNode();
    ArrayNode names = root.putArray("files");
    ArrayNode probs = root.putArray("probabilities");
    ArrayNode classes = root.putArray("classes");
    List<Predict.Result> results = Predict.run(new Predict.Options(model, images, 10, 64));
    for (Predict.Result r : results) {
      names.add(r.file().getFileName().toString());
      double[] p = new double[r.top().size()];
      r.top().forEach(t -> p[t.index()] = t.probability());
      ArrayNode row = probs.addArray();
      for (double v : p) {
        row.add(v);
      }
      classes.add(r.top().get(0).index());
    }
    Json.writeAtomic(caseDir.resolve("predict.json"), root);
  }

  /** {@code {"dtype": "float32", "shape": [...], "values": [flat row-major values]}}. */
  static void put(ObjectNode parent, String name, HostTensor t) {
    ObjectNode o = parent.putObject(name);
    o.put("dtype", switch (t.dtype()) {
      case DT_FLOAT -> "float32";
      case DT_INT64 -> "int64";
      case DT_UINT8 -> "uint8";
      case DT_INT32 -> "int32";
      default -> throw new IllegalArgumentException("dtype " + t.dtype() + " not handled");
    });
    ArrayNode shape = o.putArray("shape");
    for (long d : t.shape()) {
      shape.add(d);
    }
    ArrayNode values = o.putArray("values");
    for (long i = 0; i < t.size(); i++) {
      if (t.dtype() == org.tensorflow.proto.DataType.DT_FLOAT) {
        float v = (float) t.getDouble(i);
        assertTrue(Float.isFinite(v), name + "[" + i + "] is not finite");
        values.add(v);
      } else {
        values.add(t.getLong(i));
      }
    }
  }

  static void copyTree(Path from, Path to) throws IOException {
    try (Stream<Path> s = Files.walk(from)) {
      for (Path p : s.toList()) {
        Path target = to.resolve(from.relativize(p).toString());
        if (Files.isDirectory(p)) {
          Files.createDirectories(target);
        } else {
          Files.copy(p, target, StandardCopyOption.REPLACE_EXISTING);
        }
      }
    }
  }

  static List<String> fieldNames(JsonNode o) {
    List<String> names = new java.util.ArrayList<>();
    o.fieldNames().forEachRemaining(names::add);
    return names.stream().sorted().toList();
  }

  static List<Integer> ints(JsonNode arr) {
    List<Integer> out = new java.util.ArrayList<>();
    arr.forEach(n -> out.add(n.asInt()));
    return out;
  }
}
