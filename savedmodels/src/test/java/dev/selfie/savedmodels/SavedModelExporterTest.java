package dev.selfie.savedmodels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.selfie.graph.Endpoints;
import dev.selfie.savedmodels.serving.HostTensor;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tensorflow.Graph;
import org.tensorflow.Result;
import org.tensorflow.SavedModelBundle;
import org.tensorflow.Session;
import org.tensorflow.Signature;
import org.tensorflow.Tensor;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TUint8;

class SavedModelExporterTest {

  @TempDir Path tmp;

  /** Outputs of a loaded SavedModel's signature for the given images. */
  private static Map<String, HostTensor> call(SavedModelBundle b, String key, byte[][][][] images) {
    Map<String, HostTensor> out = new java.util.TreeMap<>();
    try (TUint8 x = TinyNet.imageTensor(images);
        Result r = b.function(key).call(Map.of(Endpoints.IMAGES, x))) {
      for (Map.Entry<String, Tensor> e : r) {
        out.put(e.getKey(), HostTensor.of(e.getValue()));
      }
    }
    return out;
  }

  @Test
  void roundTripMatchesInSessionOutputsAtAnyBatchSize() throws IOException {
    Path dir = tmp.resolve("model");
    byte[][][][] images = TinyNet.images(5, 11);
    Map<String, HostTensor> expected = Fixtures.exportTiny(dir, 1, images);

    assertTrue(SavedModelExporter.isSavedModel(dir));
    assertEquals(
        "{\"seed\": 1}",
        new String(
            SavedModelExporter.readExtraFiles(dir).get("config.json"), StandardCharsets.UTF_8));
    try (SavedModelBundle b = SavedModelBundle.load(dir.toString(), "serve")) {
      assertEquals(
          java.util.Set.of(Endpoints.SERVING_DEFAULT, Endpoints.EMBEDDING),
          b.signatures().stream().map(Signature::key).collect(java.util.stream.Collectors.toSet()));
      Signature sig = b.function(Endpoints.SERVING_DEFAULT).signature();
      assertArrayEquals(
          new long[] {-1, 8, 8, 3}, sig.getInputs().get(Endpoints.IMAGES).shape.asArray());

      Map<String, HostTensor> got = call(b, Endpoints.SERVING_DEFAULT, images);
      assertEquals(0f, Fixtures.maxAbsDiff(expected.get("logits"), got.get("logits")), 1e-6);
      assertEquals(
          0f, Fixtures.maxAbsDiff(expected.get("probabilities"), got.get("probabilities")), 1e-6);
      assertArrayEquals(expected.get("classes").longs(), got.get("classes").longs());
      HostTensor emb = call(b, Endpoints.EMBEDDING, images).get(Endpoints.EMBEDDING_OUTPUT);
      assertEquals(0f, Fixtures.maxAbsDiff(expected.get("embedding"), emb), 1e-6);

      // Dynamic batch: one image gives the first row.
      HostTensor one =
          call(b, Endpoints.SERVING_DEFAULT, new byte[][][][] {images[0]}).get("logits");
      assertArrayEquals(new long[] {1, TinyNet.CLASSES}, one.shape());
      assertEquals(0f, Fixtures.maxAbsDiff(expected.get("logits").rows(0, 1), one), 1e-6);
    }
    // Nothing left beside the model but the lock file.
    try (Stream<Path> s = Files.list(tmp)) {
      assertEquals(List.of("model"), s.map(p -> p.getFileName().toString())
          .filter(n -> !n.endsWith(".lock")).toList());
    }
  }

  @Test
  void exportedValuesAreTheSessionsNotTheInitialOnes() throws IOException {
    Path dir = tmp.resolve("m");
    byte[][][][] images = TinyNet.images(2, 3);
    try (Graph g = new Graph()) {
      TinyNet net = new TinyNet(g, 1);
      Ops tf = Ops.create(g);
      var bump =
          tf.assignAdd(
              net.vars.get("net/dense/bias").variable(),
              tf.constant(new float[] {1, 2, 3, 4, 5}));
      try (Session s = new Session(g)) {
        s.initialize();
        HostTensor before = Fixtures.run(s, net, images).get("logits");
        s.run(bump);
        HostTensor after = Fixtures.run(s, net, images).get("logits");
        new SavedModelExporter(s).signature(net.servingSignature()).export(dir);
        try (SavedModelBundle b = SavedModelBundle.load(dir.toString(), "serve")) {
          HostTensor got = call(b, Endpoints.SERVING_DEFAULT, images).get("logits");
          assertEquals(0f, Fixtures.maxAbsDiff(after, got), 1e-6);
          assertTrue(Fixtures.maxAbsDiff(before, got) > 0.5f);
        }
      }
    }
  }

  @Test
  void rejectsStaticBatchDimensionAndBadExtraNames() {
    try (Graph g = new Graph(); Session s = new Session(g)) {
      Ops tf = Ops.create(g);
      var x = tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(4, 3)));
      Signature sig = Signature.builder().key("k").input("x", x).output("y", tf.identity(x)).build();
      SavedModelExporter e = new SavedModelExporter(s);
      IllegalArgumentException err =
          assertThrows(IllegalArgumentException.class, () -> e.signature(sig));
      assertTrue(err.getMessage().contains("dynamic batch"), err.getMessage());
      assertThrows(IllegalArgumentException.class, () -> e.extraFile("../x", "y"));
      assertThrows(IllegalArgumentException.class, () -> e.extraFile("a/b", "y"));
      assertThrows(IllegalStateException.class, () -> e.export(tmp.resolve("none")));
    }
  }

  @Test
  void refusesToReplaceSomethingThatIsNotASavedModel() throws IOException {
    Path dir = Files.createDirectories(tmp.resolve("precious"));
    Files.writeString(dir.resolve("notes.txt"), "keep me");
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> Fixtures.exportTiny(dir, 1, TinyNet.images(1, 1)));
    assertTrue(e.getMessage().contains("not a SavedModel"), e.getMessage());
    assertEquals("keep me", Files.readString(dir.resolve("notes.txt")));
  }

  @Test
  void replacesPreviousModel() throws IOException {
    Path dir = tmp.resolve("model");
    byte[][][][] images = TinyNet.images(2, 5);
    Map<String, HostTensor> first = Fixtures.exportTiny(dir, 1, images);
    Map<String, HostTensor> second = Fixtures.exportTiny(dir, 2, images);
    assertTrue(Fixtures.maxAbsDiff(first.get("logits"), second.get("logits")) > 1e-3);
    try (SavedModelBundle b = SavedModelBundle.load(dir.toString(), "serve")) {
      HostTensor got = call(b, Endpoints.SERVING_DEFAULT, images).get("logits");
      assertEquals(0f, Fixtures.maxAbsDiff(second.get("logits"), got), 1e-6);
    }
  }

  @Test
  void concurrentExportsToOneTargetBothComplete() throws Exception {
    Path dir = tmp.resolve("model");
    byte[][][][] images = TinyNet.images(2, 5);
    var pool = java.util.concurrent.Executors.newFixedThreadPool(2);
    try {
      var a = pool.submit(() -> Fixtures.exportTiny(dir, 1, images));
      var b = pool.submit(() -> Fixtures.exportTiny(dir, 2, images));
      List<HostTensor> candidates = List.of(a.get().get("logits"), b.get().get("logits"));
      try (SavedModelBundle m = SavedModelBundle.load(dir.toString(), "serve")) {
        HostTensor got = call(m, Endpoints.SERVING_DEFAULT, images).get("logits");
        assertTrue(candidates.stream().anyMatch(c -> Fixtures.maxAbsDiff(c, got) < 1e-6));
      }
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  void failedExportLeavesPreviousModelIntact() throws IOException {
    Path dir = tmp.resolve("model");
    byte[][][][] images = TinyNet.images(2, 5);
    Map<String, HostTensor> first = Fixtures.exportTiny(dir, 1, images);
    byte[] pb = Files.readAllBytes(dir.resolve("saved_model.pb"));

    try (Graph g = new Graph()) {
      TinyNet net = new TinyNet(g, 2);
      try (Session s = new Session(g)) {
        s.initialize();
        IOException e =
            assertThrows(
                IOException.class,
                () ->
                    new SavedModelExporter(s)
                        .signature(net.servingSignature())
                        .beforeSwap(
                            written -> {
                              assertTrue(SavedModelExporter.isSavedModel(written));
                              throw new IOException("simulated crash mid-export");
                            })
                        .export(dir));
        assertEquals("simulated crash mid-export", e.getMessage());
      }
    }
    assertArrayEquals(pb, Files.readAllBytes(dir.resolve("saved_model.pb")));
    try (SavedModelBundle b = SavedModelBundle.load(dir.toString(), "serve")) {
      HostTensor got = call(b, Endpoints.SERVING_DEFAULT, images).get("logits");
      assertEquals(0f, Fixtures.maxAbsDiff(first.get("logits"), got), 1e-6);
    }
    try (Stream<Path> s = Files.list(tmp)) {
      assertFalse(s.anyMatch(p -> p.getFileName().toString().contains(".tmp-")));
    }
  }

  @Test
  void recoversFromAProcessThatDiedBetweenTheRenames() throws IOException {
    Path dir = tmp.resolve("model");
    byte[][][][] images = TinyNet.images(2, 5);
    Map<String, HostTensor> first = Fixtures.exportTiny(dir, 1, images);
    // State after "rename old aside" with the process dead before "rename new in", plus a
    // half-written temporary directory.
    Path aside = tmp.resolve(".model.previous");
    Files.move(dir, aside);
    Path stale = Files.createDirectories(tmp.resolve(".model.tmp-999-1/variables"));
    Files.writeString(stale.resolve("variables.index"), "half");
    assertFalse(Files.exists(dir));

    SavedModelExporter.recover(dir);

    assertTrue(SavedModelExporter.isSavedModel(dir));
    assertFalse(Files.exists(aside));
    assertFalse(Files.exists(stale.getParent()));
    try (SavedModelBundle b = SavedModelBundle.load(dir.toString(), "serve")) {
      HostTensor got = call(b, Endpoints.SERVING_DEFAULT, images).get("logits");
      assertEquals(0f, Fixtures.maxAbsDiff(first.get("logits"), got), 1e-6);
    }

    // State after "rename new in" with the process dead before deleting the old one: recovery
    // keeps the new model and drops the old.
    Map<String, HostTensor> second = Fixtures.exportTiny(tmp.resolve("other"), 2, images);
    Files.move(dir, aside);
    Files.move(tmp.resolve("other"), dir);
    SavedModelExporter.recover(dir);
    assertFalse(Files.exists(aside));
    try (SavedModelBundle b = SavedModelBundle.load(dir.toString(), "serve")) {
      HostTensor got = call(b, Endpoints.SERVING_DEFAULT, images).get("logits");
      assertEquals(0f, Fixtures.maxAbsDiff(second.get("logits"), got), 1e-6);
      assertNotEquals(first.get("logits"), got);
    }
  }
}
