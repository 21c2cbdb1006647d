package dev.selfie.savedmodels.serving;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.selfie.graph.Endpoints;
import dev.selfie.savedmodels.Fixtures;
import dev.selfie.savedmodels.TinyNet;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.RejectedExecutionException;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tensorflow.proto.DataType;

class ModelServerTest {

  @TempDir static Path tmp;
  static Path model;
  static byte[][][][] images = TinyNet.images(16, 7);
  static Map<String, HostTensor> expected;

  @BeforeAll
  static void export() throws Exception {
    model = tmp.resolve("model");
    expected = Fixtures.exportTiny(model, 1, images);
  }

  private static Map<String, HostTensor> in(int from, int to) {
    return Map.of(Endpoints.IMAGES, Fixtures.uint8(images).rows(from, to));
  }

  @Test
  void signaturesDescribeTheModel() {
    try (ModelServer s = ModelServer.load(model, ModelServer.Options.defaults())) {
      assertEquals(List.of(Endpoints.EMBEDDING, Endpoints.SERVING_DEFAULT), List.copyOf(s.signatures().keySet()));
      ModelServer.SignatureSpec sig = s.signatures().get(Endpoints.SERVING_DEFAULT);
      assertTrue(sig.batchable());
      ModelServer.TensorSpec img = sig.inputs().get(Endpoints.IMAGES);
      assertEquals(DataType.DT_UINT8, img.dtype());
      assertArrayEquals(new long[] {-1, 8, 8, 3}, img.shape());
      assertEquals(DataType.DT_INT64, sig.outputs().get(Endpoints.CLASSES).dtype());
      assertArrayEquals(new long[] {-1, TinyNet.CLASSES}, sig.outputs().get(Endpoints.LOGITS).shape());
    }
  }

  @Test
  void predictMatchesInSessionOutputs() {
    try (ModelServer s = ModelServer.load(model, ModelServer.Options.defaults())) {
      Map<String, HostTensor> out = s.predict(Endpoints.SERVING_DEFAULT, in(0, 16));
      assertEquals(0f, Fixtures.maxAbsDiff(expected.get("logits"), out.get(Endpoints.LOGITS)), 1e-6);
      assertArrayEquals(expected.get("classes").longs(), out.get(Endpoints.CLASSES).longs());
      HostTensor emb = s.predict(Endpoints.EMBEDDING, in(3, 4)).get(Endpoints.EMBEDDING_OUTPUT);
      assertEquals(0f, Fixtures.maxAbsDiff(expected.get("embedding").rows(3, 4), emb), 1e-6);
    }
  }

  @Test
  void concurrentRequestsAreBatchedAndSplitBackCorrectly() throws Exception {
    // A long latency window so that concurrent requests do meet.
    ModelServer.Options o = new ModelServer.Options(64, Duration.ofMillis(20), 1024, 1);
    try (ModelServer s = ModelServer.load(model, o)) {
      ExecutorService pool = Executors.newFixedThreadPool(8);
      try {
        List<Future<?>> done = new ArrayList<>();
        for (int t = 0; t < 8; t++) {
          int seed = t;
          done.add(
              pool.submit(
                  () -> {
                    for (int k = 0; k < 25; k++) {
                      int from = (seed * 7 + k * 3) % 16;
                      int to = Math.min(16, from + 1 + (k % 3));
                      Map<String, HostTensor> out = s.predict(Endpoints.SERVING_DEFAULT, in(from, to));
                      assertEquals(
                          0f,
                          Fixtures.maxAbsDiff(
                              expected.get("logits").rows(from, to), out.get(Endpoints.LOGITS)),
                          1e-5);
                      assertArrayEquals(
                          expected.get("classes").rows(from, to).longs(),
                          out.get(Endpoints.CLASSES).longs());
                    }
                    return null;
                  }));
        }
        for (Future<?> f : done) {
          f.get();
        }
      } finally {
        pool.shutdownNow();
      }
      ModelServer.Stats st = s.stats();
      assertEquals(200, st.requests());
      assertTrue(st.runs() < st.requests() / 2, "expected batching, got " + st);
    }
  }

  @Test
  void badRequestsAreRejectedAndTheServerKeepsServing() {
    try (ModelServer s = ModelServer.load(model, ModelServer.Options.defaults())) {
      assertThrows(ModelServer.BadRequestException.class, () -> s.predict("nope", in(0, 1)));
      assertThrows(
          ModelServer.BadRequestException.class,
          () -> s.predict(Endpoints.SERVING_DEFAULT, Map.of("x", Fixtures.uint8(images))));
      HostTensor floats = HostTensor.ofFloats(new long[] {1, 8, 8, 3}, new float[192]);
      ModelServer.BadRequestException e =
          assertThrows(
              ModelServer.BadRequestException.class,
              () -> s.predict(Endpoints.SERVING_DEFAULT, Map.of(Endpoints.IMAGES, floats)));
      assertTrue(e.getMessage().contains("uint8"), e.getMessage());
      HostTensor wrongShape = HostTensor.ofUint8(new long[] {1, 4, 4, 3}, new byte[48]);
      assertThrows(
          ModelServer.BadRequestException.class,
          () -> s.predict(Endpoints.SERVING_DEFAULT, Map.of(Endpoints.IMAGES, wrongShape)));
      Map<String, HostTensor> ok = s.predict(Endpoints.SERVING_DEFAULT, in(0, 2));
      assertEquals(0f, Fixtures.maxAbsDiff(expected.get("logits").rows(0, 2), ok.get(Endpoints.LOGITS)), 1e-6);
    }
  }

  @Test
  void closeRejectsFurtherRequests() {
    ModelServer s = ModelServer.load(model, ModelServer.Options.defaults());
    CompletableFuture<Map<String, HostTensor>> f = s.submit(Endpoints.SERVING_DEFAULT, in(0, 1));
    f.join();
    s.close();
    assertThrows(RejectedExecutionException.class, () -> s.submit(Endpoints.SERVING_DEFAULT, in(0, 1)));
    s.close(); // idempotent
    assertThrows(IllegalArgumentException.class, () -> ModelServer.load(tmp.resolve("none"), ModelServer.Options.defaults()));
  }
}
