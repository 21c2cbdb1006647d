package dev.selfie.savedmodels.serving.rest;

import dev.selfie.savedmodels.serving.ModelServer;
import dev.selfie.savedmodels.serving.HostTensor;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.selfie.graph.Endpoints;
import dev.selfie.savedmodels.Fixtures;
import dev.selfie.savedmodels.TinyNet;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

public class RestServerTest {

  static final ObjectMapper JSON = new ObjectMapper();
  static final int MAX_BODY = 256 * 1024;

  @TempDir static Path tmp;
  static byte[][][][] images = TinyNet.images(16, 7);
  static Map<String, HostTensor> expected;
  static ModelServer model;
  static RestServer server;
  static HttpClient client;

  @BeforeAll
  static void start() throws Exception {
    Path dir = tmp.resolve("model");
    expected = Fixtures.exportTiny(dir, 1, images);
    model = ModelServer.load(dir, new ModelServer.Options(64, Duration.ofMillis(1), 4096, 1));
    server =
        RestServer.start(
            Map.of("tiny", model),
            RestServer.Options.defaults().withPort(0).withMaxBodyBytes(MAX_BODY));
    client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
  }

  @AfterAll
  static void stop() {
    server.close();
    model.close();
  }

  record Answer(int status, JsonNode body) {}

  static Answer get(String path) throws Exception {
    HttpResponse<String> r =
        client.send(
            HttpRequest.newBuilder(server.baseUri().resolve(path)).GET().build(),
            HttpResponse.BodyHandlers.ofString());
    return new Answer(r.statusCode(), JSON.readTree(r.body()));
  }

  static Answer post(String path, String body) throws Exception {
    HttpResponse<String> r =
        client.send(
            HttpRequest.newBuilder(server.baseUri().resolve(path))
                .POST(HttpRequest.BodyPublishers.ofString(body))
                .header("Content-Type", "application/json")
                .build(),
            HttpResponse.BodyHandlers.ofString());
    return new Answer(r.statusCode(), JSON.readTree(r.body()));
  }

  /** Images [from, to) as nested JSON lists [n, 8, 8, 3]. */
  public static String imagesJson(int from, int to) {
    StringBuilder sb = new StringBuilder("[");
    for (int i = from; i < to; i++) {
      sb.append(i > from ? "," : "").append('[');
      for (int y = 0; y < 8; y++) {
        sb.append(y > 0 ? "," : "").append('[');
        for (int x = 0; x < 8; x++) {
          byte[] px = images[i][y][x];
          sb.append(x > 0 ? "," : "")
              .append('[').append(px[0] & 0xff).append(',').append(px[1] & 0xff).append(',')
              .append(px[2] & 0xff).append(']');
        }
        sb.append(']');
      }
      sb.append(']');
    }
    return sb.append(']').toString();
  }

  static float[] floats(JsonNode list) {
    float[] out = new float[list.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = list.get(i).floatValue();
    }
    return out;
  }

  static float[] row(HostTensor t, int r) {
    return t.rows(r, r + 1).floats();
  }

  static void assertClose(float[] want, float[] got) {
    assertEquals(want.length, got.length);
    for (int i = 0; i < want.length; i++) {
      assertEquals(want[i], got[i], 1e-5f, "element " + i + " of " + Arrays.toString(got));
    }
  }

  @Test
  void statusLikeTensorFlowServing() throws Exception {
    for (String path : List.of("/v1/models/tiny", "/v1/models/tiny/versions/1")) {
      Answer a = get(path);
      assertEquals(200, a.status());
      JsonNode v = a.body().get("model_version_status").get(0);
      assertEquals("1", v.get("version").asText());
      assertEquals("AVAILABLE", v.get("state").asText());
      assertEquals("OK", v.get("status").get("error_code").asText());
    }
  }

  @Test
  void metadataListsSignatureDtypesAndShapes() throws Exception {
    Answer a = get("/v1/models/tiny/metadata");
    assertEquals(200, a.status());
    assertEquals("tiny", a.body().get("model_spec").get("name").asText());
    JsonNode defs = a.body().get("metadata").get("signature_def").get("signature_def");
    JsonNode img = defs.get("serving_default").get("inputs").get("images");
    assertEquals("DT_UINT8", img.get("dtype").asText());
    List<String> dims = new ArrayList<>();
    img.get("tensor_shape").get("dim").forEach(d -> dims.add(d.get("size").asText()));
    assertEquals(List.of("-1", "8", "8", "3"), dims);
    assertEquals("DT_INT64", defs.get("serving_default").get("outputs").get("classes").get("dtype").asText());
    assertEquals("DT_FLOAT", defs.get("embedding").get("outputs").get("embedding").get("dtype").asText());
    assertEquals("tensorflow/serving/predict", defs.get("serving_default").get("method_name").asText());
  }

  @Test
  void predictRowFormat() throws Exception {
    Answer a = post("/v1/models/tiny:predict", "{\"instances\": " + imagesJson(2, 5) + "}");
    assertEquals(200, a.status(), a.body().toString());
    JsonNode p = a.body().get("predictions");
    assertEquals(3, p.size());
    for (int i = 0; i < 3; i++) {
      assertClose(row(expected.get("logits"), 2 + i), floats(p.get(i).get("logits")));
      assertClose(row(expected.get("probabilities"), 2 + i), floats(p.get(i).get("probabilities")));
      assertEquals(expected.get("classes").longs()[2 + i], p.get(i).get("classes").asLong());
    }
    // One output: each prediction is the value itself.
    Answer e =
        post(
            "/v1/models/tiny/versions/1:predict",
            "{\"signature_name\": \"embedding\", \"instances\": " + imagesJson(0, 2) + "}");
    assertEquals(200, e.status(), e.body().toString());
    assertClose(row(expected.get("embedding"), 1), floats(e.body().get("predictions").get(1)));
  }

  @Test
  void predictColumnarFormat() throws Exception {
    Answer a = post("/v1/models/tiny:predict", "{\"inputs\": {\"images\": " + imagesJson(0, 4) + "}}");
    assertEquals(200, a.status(), a.body().toString());
    JsonNode o = a.body().get("outputs");
    assertEquals(4, o.get("logits").size());
    assertClose(row(expected.get("logits"), 3), floats(o.get("logits").get(3)));
    assertEquals(expected.get("classes").longs()[3], o.get("classes").get(3).asLong());
    // Single input given directly; single output returned directly.
    Answer e =
        post(
            "/v1/models/tiny:predict",
            "{\"signature_name\": \"embedding\", \"inputs\": " + imagesJson(5, 6) + "}");
    assertEquals(200, e.status(), e.body().toString());
    assertClose(row(expected.get("embedding"), 5), floats(e.body().get("outputs").get(0)));
  }

  @Test
  void everyBadRequestGetsAnErrorAndTheNextGoodOneSucceeds() throws Exception {
    String img = imagesJson(0, 1);
    String good = "{\"instances\": " + img + "}";
    String bigBody = "{\"instances\": " + imagesJson(0, 16) + ", \"pad\": \"" + "x".repeat(MAX_BODY) + "\"}";
    Object[][] cases = {
      {"POST", "/v1/models/tiny:predict", "{\"instances\": [1, 2", 400},
      {"POST", "/v1/models/tiny:predict", "[1, 2]", 400},
      {"POST", "/v1/models/tiny:predict", "{}", 400},
      {"POST", "/v1/models/tiny:predict", "{\"instances\": []}", 400},
      {"POST", "/v1/models/tiny:predict", "{\"instances\": " + img + ", \"inputs\": " + img + "}", 400},
      {"POST", "/v1/models/tiny:predict", "{\"instances\": [[[1, 2, 3]]]}", 400},
      {"POST", "/v1/models/tiny:predict", "{\"instances\": " + img.replaceFirst("\\[\\[\\[\\[", "[[[[7,") + "}", 400},
      {"POST", "/v1/models/tiny:predict", "{\"instances\": " + img.replaceFirst("\\[\\[\\[\\[\\d+", "[[[[1.5") + "}", 400},
      {"POST", "/v1/models/tiny:predict", "{\"instances\": " + img.replaceFirst("\\[\\[\\[\\[\\d+", "[[[[300") + "}", 400},
      {"POST", "/v1/models/tiny:predict", "{\"instances\": " + img.replaceFirst("\\[\\[\\[\\[\\d+", "[[[[\"a\"") + "}", 400},
      {"POST", "/v1/models/tiny:predict", "{\"instances\": [{\"b64\": \"AAAA\"}]}", 400},
      {"POST", "/v1/models/tiny:predict", "{\"signature_name\": \"nope\", \"instances\": " + img + "}", 400},
      {"POST", "/v1/models/tiny:predict", "{\"inputs\": {\"pixels\": " + img + "}}", 400},
      {"POST", "/v1/models/tiny:regress", good, 400},
      {"POST", "/v1/models/tiny:classify", "{\"signature_name\": \"embedding\", \"instances\": " + img + "}", 400},
      {"POST", "/v1/models/other:predict", good, 404},
      {"POST", "/v1/models/tiny/versions/2:predict", good, 404},
      {"GET", "/v1/models/other", null, 404},
      {"GET", "/v1/models/tiny/versions/x", null, 400},
      {"GET", "/v1/other", null, 404},
      {"GET", "/v1/models/tiny:predict", null, 405},
      {"POST", "/v1/models/tiny", good, 405},
      {"POST", "/v1/models/tiny:predict", bigBody, 413},
    };
    for (Object[] c : cases) {
      Answer a = c[0].equals("GET") ? get((String) c[1]) : post((String) c[1], (String) c[2]);
      String what = c[0] + " " + c[1] + " " + (c[2] == null ? "" : ((String) c[2]).substring(0, Math.min(80, ((String) c[2]).length())));
      assertEquals((int) c[3], a.status(), what + " -> " + a.body());
      assertTrue(a.body().get("error").asText().length() > 0, what);
      if (((String) c[1]).endsWith(":predict") && c[2] != null && ((String) c[2]).contains("pixels")) {
        assertTrue(a.body().get("error").asText().contains("unknown input(s) [pixels]"), a.body().toString());
      }
      Answer ok = post("/v1/models/tiny:predict", good);
      assertEquals(200, ok.status(), "good request after " + what);
      assertClose(row(expected.get("logits"), 0), floats(ok.body().get("predictions").get(0).get("logits")));
    }
  }

  @Test
  void chunkedBodyOverTheLimitIs413() throws Exception {
    byte[] big = ("{\"instances\": " + imagesJson(0, 1) + ", \"pad\": \"" + "y".repeat(2 * MAX_BODY) + "\"}")
        .getBytes(java.nio.charset.StandardCharsets.UTF_8);
    HttpResponse<String> r =
        client.send(
            HttpRequest.newBuilder(server.baseUri().resolve("/v1/models/tiny:predict"))
                .POST(HttpRequest.BodyPublishers.ofInputStream(() -> new java.io.ByteArrayInputStream(big)))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    assertEquals(413, r.statusCode(), r.body());
    assertTrue(JSON.readTree(r.body()).get("error").asText().contains("limit"));
    assertEquals(200, post("/v1/models/tiny:predict", "{\"instances\": " + imagesJson(0, 1) + "}").status());
  }

  @Test
  void fiftyConcurrentClientsGetTheLibrarysAnswers() throws Exception {
    int clients = 50;
    int perClient = 200;
    String[] bodies = new String[16];
    float[][] want = new float[16][];
    for (int i = 0; i < 16; i++) {
      bodies[i] = "{\"signature_name\": \"serving_default\", \"instances\": " + imagesJson(i, i + 1) + "}";
      want[i] =
          model.predict(Endpoints.SERVING_DEFAULT, Map.of(Endpoints.IMAGES, Fixtures.uint8(images).rows(i, i + 1)))
              .get(Endpoints.LOGITS).floats();
    }
    ModelServer.Stats before = model.stats();
    AtomicInteger errors = new AtomicInteger();
    ExecutorService pool = Executors.newFixedThreadPool(clients);
    long t0 = System.nanoTime();
    try {
      List<Future<?>> done = new ArrayList<>();
      for (int c = 0; c < clients; c++) {
        int id = c;
        done.add(
            pool.submit(
                () -> {
                  for (int k = 0; k < perClient; k++) {
                    int i = (id + k) % 16;
                    Answer a = post("/v1/models/tiny:predict", bodies[i]);
                    if (a.status() != 200) {
                      errors.incrementAndGet();
                      continue;
                    }
                    JsonNode p = a.body().get("predictions").get(0);
                    assertClose(want[i], floats(p.get("logits")));
                    assertEquals(expected.get("classes").longs()[i], p.get("classes").asLong());
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
    double secs = (System.nanoTime() - t0) / 1e9;
    ModelServer.Stats after = model.stats();
    long requests = after.requests() - before.requests();
    long runs = after.runs() - before.runs();
    System.out.printf(
        "REST: %d clients x %d requests in %.2f s = %.0f req/s; %d session runs (mean batch %.1f)%n",
        clients, perClient, secs, clients * perClient / secs, runs, (double) requests / runs);
    assertEquals(0, errors.get());
    assertEquals(clients * perClient, requests);
    assertTrue(runs < requests, "no batching happened: " + runs + " runs");
  }

  @Test
  void quickLatencyAndThroughputMeasurement() throws Exception {
    String one = "{\"instances\": " + imagesJson(0, 1) + "}";
    StringBuilder many = new StringBuilder("{\"instances\": [");
    for (int k = 0; k < 4; k++) {
      String s = imagesJson(0, 16);
      many.append(k > 0 ? "," : "").append(s, 1, s.length() - 1);
    }
    String batch64 = many.append("]}").toString();
    for (int i = 0; i < 50; i++) {
      post("/v1/models/tiny:predict", one); // warm-up
    }
    int n = 300;
    long[] lat = new long[n];
    for (int i = 0; i < n; i++) {
      long t = System.nanoTime();
      Answer a = post("/v1/models/tiny:predict", one);
      lat[i] = System.nanoTime() - t;
      assertEquals(200, a.status());
    }
    Arrays.sort(lat);
    int m = 30;
    long t0 = System.nanoTime();
    for (int i = 0; i < m; i++) {
      Answer a = post("/v1/models/tiny:predict", batch64);
      assertEquals(200, a.status());
      assertEquals(64, a.body().get("predictions").size());
    }
    double secs = (System.nanoTime() - t0) / 1e9;
    System.out.printf(
        "REST latency batch 1 (sequential, %d requests): p50 %.2f ms, p99 %.2f ms; batch 64: %.0f images/s (%.1f ms/request)%n",
        n, lat[n / 2] / 1e6, lat[(int) (n * 0.99)] / 1e6, m * 64 / secs, secs * 1000 / m);
    assertFalse(lat[n / 2] > 5e9, "median latency over 5 s");
  }

  @Test
  void classifyAnswersEveryClassWithItsProbability() throws Exception {
    for (String body : List.of("{\"instances\": " + imagesJson(3, 5) + "}",
        "{\"examples\": [{\"images\": " + imagesJson(3, 4).substring(1, imagesJson(3, 4).length() - 1)
            + "}, {\"images\": " + imagesJson(4, 5).substring(1, imagesJson(4, 5).length() - 1) + "}]}")) {
      Answer a = post("/v1/models/tiny:classify", body);
      assertEquals(200, a.status(), a.body().toString());
      JsonNode results = a.body().get("results");
      assertEquals(2, results.size());
      for (int i = 0; i < 2; i++) {
        float[] want = row(expected.get("probabilities"), 3 + i);
        assertEquals(want.length, results.get(i).size());
        for (int k = 0; k < want.length; k++) {
          assertEquals("class_" + k, results.get(i).get(k).get(0).asText()); // no class_names.txt
          assertEquals(want[k], results.get(i).get(k).get(1).floatValue(), 1e-5f);
        }
      }
    }
  }

  @Test
  void prometheusMetricsCountRequestsBatchesAndQueues() throws Exception {
    for (int i = 0; i < 3; i++) {
      assertEquals(200, post("/v1/models/tiny:predict", "{\"instances\": " + imagesJson(0, 2) + "}").status());
    }
    assertEquals(404, get("/v1/models/nope").status());
    HttpResponse<String> r = client.send(
        HttpRequest.newBuilder(server.baseUri().resolve("/monitoring/prometheus/metrics")).GET().build(),
        HttpResponse.BodyHandlers.ofString());
    assertEquals(200, r.statusCode());
    assertTrue(r.headers().firstValue("Content-Type").orElse("").startsWith("text/plain"));
    String text = r.body();
    java.util.regex.Matcher m = java.util.regex.Pattern
        .compile("selfie_serving_requests_total\\{code=\"200\",kind=\"predict\"\\} (\\S+)").matcher(text);
    assertTrue(m.find(), text);
    assertTrue(Double.parseDouble(m.group(1)) >= 3, m.group());
    assertTrue(text.contains("selfie_serving_requests_total{code=\"404\",kind=\"status\"}"), text);
    assertTrue(text.contains("selfie_serving_request_duration_seconds_bucket{kind=\"predict\",le=\"0.001\"}"), text);
    java.util.regex.Matcher b = java.util.regex.Pattern
        .compile("selfie_serving_batch_rows_count (\\S+)").matcher(text);
    assertTrue(b.find(), text);
    assertTrue(Double.parseDouble(b.group(1)) >= 3, b.group());
    assertTrue(text.contains("selfie_serving_queue_depth{queue=\"http\"}"), text);
    assertTrue(text.contains("selfie_serving_queue_depth{queue=\"model\"}"), text);
    assertEquals(405, post("/monitoring/prometheus/metrics", "{}").status());
  }

  @Test
  void bindsLoopbackByDefault() {
    assertEquals("127.0.0.1", RestServer.Options.defaults().host());
    assertTrue(server.port() > 0);
    assertEquals(URI.create("http://127.0.0.1:" + server.port()), server.baseUri());
  }

}
