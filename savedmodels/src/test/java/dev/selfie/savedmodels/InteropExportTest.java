package dev.selfie.savedmodels;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.selfie.graph.Endpoints;
import dev.selfie.savedmodels.serving.HostTensor;
import dev.selfie.savedmodels.serving.Signatures;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.Session;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Java half of the Python interop check ({@code ci/python/test_interop.py}): exports a small
 * VarStore model (uint8 input cast and scaled, conv, batch norm in inference mode, dense) to
 * {@code <selfie.interop.dir>/tiny/saved_model} and writes {@code expected.json} beside it with
 * the input images and the outputs Java computed for every signature. Python loads the
 * SavedModel with {@code tf.saved_model.load}, calls each signature on the same images and
 * compares (max abs diff <= {@code atol}).
 */
class InteropExportTest {

  static final double ATOL = 1e-4;

  @Test
  void exportModelAndExpectedOutputsForPython() throws Exception {
    Path root = Path.of(System.getProperty("selfie.interop.dir", "target/interop"));
    Path dir = root.resolve("tiny");
    Files.createDirectories(dir);
    byte[][][][] images = TinyNet.images(6, 2024);
    // Values that hit the ends of the uint8 range: 0 and 255 everywhere in the last image.
    for (byte[][] row : images[5]) {
      for (int x = 0; x < row.length; x++) {
        java.util.Arrays.fill(row[x], (byte) (x % 2 == 0 ? 0 : 255));
      }
    }
    Map<String, HostTensor> outs;
    try (Graph g = new Graph()) {
      TinyNet net = new TinyNet(g, 42);
      try (Session s = new Session(g)) {
        s.initialize();
        new SavedModelExporter(s)
            .signature(net.servingSignature())
            .signature(net.embeddingSignature())
            .extraFile("config.json", "{\"model\": \"tiny\", \"image_size\": 8}")
            .extraFile("class_names.txt", "a\nb\nc\nd\ne\n")
            .export(dir.resolve("saved_model"));
        outs = Fixtures.run(s, net, images);
      }
    }

    ObjectMapper json = new ObjectMapper();
    ObjectNode root0 = json.createObjectNode();
    root0.put("atol", ATOL);
    root0.put("saved_model", "saved_model");
    ArrayNode extras = root0.putArray("extra_files");
    extras.add("class_names.txt");
    extras.add("config.json");
    ObjectNode sigs = root0.putObject("signatures");
    HostTensor in = Fixtures.uint8(images);
    ObjectNode serving = sigs.putObject(Endpoints.SERVING_DEFAULT);
    put(serving.putObject("inputs"), Endpoints.IMAGES, in);
    ObjectNode so = serving.putObject("outputs");
    put(so, Endpoints.LOGITS, outs.get("logits"));
    put(so, Endpoints.PROBABILITIES, outs.get("probabilities"));
    put(so, Endpoints.CLASSES, outs.get("classes"));
    ObjectNode emb = sigs.putObject(Endpoints.EMBEDDING);
    put(emb.putObject("inputs"), Endpoints.IMAGES, in);
    put(emb.putObject("outputs"), Endpoints.EMBEDDING_OUTPUT, outs.get("embedding"));
    Path expected = dir.resolve("expected.json");
    json.writerWithDefaultPrettyPrinter().writeValue(expected.toFile(), root0);

    assertTrue(SavedModelExporter.isSavedModel(dir.resolve("saved_model")));
    assertEquals(
        6, json.readTree(expected.toFile()).at("/signatures/serving_default/outputs/logits/shape/0").asInt());
  }

  /** {@code {"dtype": "float32", "shape": [...], "values": [flat row-major values]}}. */
  private static void put(ObjectNode parent, String name, HostTensor t) {
    ObjectNode o = parent.putObject(name);
    o.put("dtype", Signatures.dtypeName(t.dtype()));
    ArrayNode shape = o.putArray("shape");
    for (long d : t.shape()) {
      shape.add(d);
    }
    ArrayNode values = o.putArray("values");
    for (long i = 0; i < t.size(); i++) {
      switch (t.dtype()) {
        case DT_FLOAT -> values.add((float) t.getDouble(i));
        default -> values.add(t.getLong(i));
      }
    }
  }
}
