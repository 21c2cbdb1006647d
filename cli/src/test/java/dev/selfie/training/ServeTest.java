package dev.selfie.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.selfie.cli.Main;
import dev.selfie.cli.ServeCommand;
import dev.selfie.graph.Endpoints;
import dev.selfie.training.jobs.Predict;
import dev.selfie.training.jobs.Serve;
import dev.selfie.training.run.Json;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/**
 * {@code selfie serve} on REAL exports: TF Serving REST requests (row "instances" and columnar
 * "inputs" formats, named signatures) answered with exactly what the SavedModel gives through
 * TensorFlow Java; the CLI itself in a child JVM (prints the URL, serves, stops on SIGTERM).
 */
class ServeTest {

  static final int N = 3;
  static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
      .connectTimeout(Duration.ofSeconds(10)).build();

  static Path finetuneRun;
  static Serve.Running server;
  static byte[] images;
  static final Map<Integer, Map<String, Map<String, float[]>>> LIBRARY = new java.util.HashMap<>();

  /**
   * What TensorFlow Java gives for the first {@code n} images through the SavedModel (per batch
   * size: oneDNN may pick other kernels for another batch size, changing the last bits).
   */
  static synchronized Map<String, Map<String, float[]>> library(int n) {
    return LIBRARY.computeIfAbsent(n, k -> ExportRoundTripTest.runSavedModel(
        finetuneRun.resolve("savedmodel/1"), java.util.Arrays.copyOf(images, k * 28 * 28), k,
        Set.of(Endpoints.SERVING_DEFAULT, Endpoints.EMBEDDING)));
  }

  @BeforeAll
  static void start() throws Exception {
    finetuneRun = ExportTestRuns.finetuneRun();
    images = ExportTestRuns.fixedImages(N);
    LogCapture log = new LogCapture();
    // The run directory (not savedmodel/) is accepted too.
    server = Serve.start(new Serve.Options(finetuneRun, "127.0.0.1", 0, "fmnist", 16,
        Duration.ofMillis(1), 4).withGrpcPort(Serve.ANY_PORT));
    String printed = log.consoleAndClose();
    assertTrue(printed.contains(server.modelUri().toString()), printed);
    assertTrue(printed.contains("serving_default [images] -> [classes, logits, probabilities]"),
        printed);
  }

  @AfterAll
  static void stop() {
    if (server != null) {
      server.close();
    }
  }

  /** Image i as nested JSON lists [28][28][1]. */
  static String imageJson(byte[] all, int i) {
    StringBuilder sb = new StringBuilder("[");
    for (int y = 0; y < 28; y++) {
      sb.append(y > 0 ? "," : "").append('[');
      for (int x = 0; x < 28; x++) {
        sb.append(x > 0 ? "," : "").append('[').append(all[(i * 28 + y) * 28 + x] & 0xff)
            .append(']');
      }
      sb.append(']');
    }
    return sb.append(']').toString();
  }

  static String batchJson(byte[] all, int n) {
    List<String> rows = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      rows.add(imageJson(all, i));
    }
    return "[" + String.join(",", rows) + "]";
  }

  static HttpResponse<String> post(URI uri, String body) throws Exception {
    return HTTP.send(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(30))
            .header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(body)).build(),
        HttpResponse.BodyHandlers.ofString());
  }

  static HttpResponse<String> get(URI uri) throws Exception {
    return HTTP.send(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(30)).GET().build(),
        HttpResponse.BodyHandlers.ofString());
  }

  static URI predictUri(URI model) {
    return URI.create(model + ":predict");
  }

  /** All numbers of a nested JSON array, row-major. */
  static float[] flat(JsonNode node) {
    List<Float> out = new ArrayList<>();
    flatten(node, out);
    float[] f = new float[out.size()];
    for (int i = 0; i < f.length; i++) {
      f[i] = out.get(i);
    }
    return f;
  }

  private static void flatten(JsonNode node, List<Float> out) {
    if (node.isArray()) {
      node.forEach(n -> flatten(n, out));
    } else {
      assertTrue(node.isNumber(), "not a number: " + node);
      out.add(node.floatValue());
    }
  }

  /** Equal to 1e-6: JSON carries floats exactly, the same batch size runs the same kernels. */
  static void assertSame(float[] want, float[] got, String what) {
    assertEquals(want.length, got.length, what);
    for (int i = 0; i < want.length; i++) {
      assertEquals(want[i], got[i], 1e-6f, what + "[" + i + "]");
    }
  }

  @Test
  void rowFormatInstancesMatchTheLibrary() throws Exception {
    HttpResponse<String> r = post(predictUri(server.modelUri()),
        "{\"instances\": " + batchJson(images, N) + "}");
    assertEquals(200, r.statusCode(), r.body());
    JsonNode predictions = Json.MAPPER.readTree(r.body()).path("predictions");
    assertEquals(N, predictions.size(), r.body());
    Map<String, float[]> want = library(N).get(Endpoints.SERVING_DEFAULT);
    for (String out : List.of("logits", "probabilities", "classes")) {
      List<Float> got = new ArrayList<>();
      predictions.forEach(p -> flatten(p.path(out), got));
      float[] g = new float[got.size()];
      for (int i = 0; i < g.length; i++) {
        g[i] = got.get(i);
      }
      assertSame(want.get(out), g, "predictions/" + out);
    }
  }

  @Test
  void columnarInputsAndNamedSignatureMatchTheLibrary() throws Exception {
    HttpResponse<String> r = post(predictUri(server.modelUri()),
        "{\"signature_name\": \"embedding\", \"inputs\": {\"images\": " + batchJson(images, N)
            + "}}");
    assertEquals(200, r.statusCode(), r.body());
    JsonNode outputs = Json.MAPPER.readTree(r.body()).path("outputs");
    assertEquals(N, outputs.size(), r.body());
    assertSame(library(N).get(Endpoints.EMBEDDING).get("embedding"), flat(outputs),
        "embedding outputs");

    HttpResponse<String> r2 = post(predictUri(server.modelUri()),
        "{\"inputs\": " + batchJson(images, 1) + "}");
    assertEquals(200, r2.statusCode(), r2.body());
    JsonNode o2 = Json.MAPPER.readTree(r2.body()).path("outputs");
    assertSame(library(1).get(Endpoints.SERVING_DEFAULT).get("logits"), flat(o2.path("logits")),
        "outputs/logits");
  }

  @Test
  void statusMetadataAndErrors() throws Exception {
    HttpResponse<String> status = get(server.modelUri());
    assertEquals(200, status.statusCode(), status.body());
    assertEquals("AVAILABLE", Json.MAPPER.readTree(status.body())
        .at("/model_version_status/0/state").asText());
    HttpResponse<String> meta = get(URI.create(server.modelUri() + "/metadata"));
    assertEquals(200, meta.statusCode());
    assertTrue(meta.body().contains("\"serving_default\"")
        && meta.body().contains("\"embedding\""), meta.body());
    // A 32x32 RGB image is not this model's native 28x28 grey input.
    HttpResponse<String> bad = post(predictUri(server.modelUri()),
        "{\"instances\": [" + "[".repeat(1) + String.join(",", java.util.Collections.nCopies(32,
            "[" + String.join(",", java.util.Collections.nCopies(32, "[0,0,0]")) + "]")) + "]]}");
    assertEquals(400, bad.statusCode(), bad.body());
    assertTrue(bad.body().contains("shape"), bad.body());
    assertEquals(404, get(URI.create("http://127.0.0.1:" + server.port() + "/v1/models/nope"))
        .statusCode());
  }

  /** TF Serving's gRPC Predict on the same images: what the library (and REST) answers. */
  @Test
  void grpcPredictMetadataAndStatusAnswerLikeRest() throws Exception {
    io.grpc.ManagedChannel ch = io.grpc.Grpc.newChannelBuilder(server.grpcTarget(),
        io.grpc.InsecureChannelCredentials.create()).build();
    try {
      var predict = dev.selfie.savedmodels.tfserving.PredictionServiceGrpc.newBlockingStub(ch);
      var models = dev.selfie.savedmodels.tfserving.ModelServiceGrpc.newBlockingStub(ch);
      var spec = dev.selfie.savedmodels.tfserving.ModelSpec.newBuilder().setName("fmnist");
      org.tensorflow.proto.TensorProto.Builder x = org.tensorflow.proto.TensorProto.newBuilder()
          .setDtype(org.tensorflow.proto.DataType.DT_UINT8)
          .setTensorContent(com.google.protobuf.ByteString.copyFrom(images, 0, N * 28 * 28));
      for (long d : new long[] {N, 28, 28, 1}) {
        x.getTensorShapeBuilder().addDimBuilder().setSize(d);
      }
      var r = predict.predict(dev.selfie.savedmodels.tfserving.PredictRequest.newBuilder()
          .setModelSpec(spec).putInputs("images", x.build()).build());
      Map<String, float[]> want = library(N).get(Endpoints.SERVING_DEFAULT);
      for (String out : List.of("logits", "probabilities")) {
        List<Float> got = r.getOutputsOrThrow(out).getFloatValList();
        float[] g = new float[got.size()];
        for (int i = 0; i < g.length; i++) {
          g[i] = got.get(i);
        }
        assertSame(want.get(out), g, "gRPC outputs/" + out);
      }
      assertEquals(1, r.getModelSpec().getVersion().getValue());

      var meta = predict.getModelMetadata(
          dev.selfie.savedmodels.tfserving.GetModelMetadataRequest.newBuilder()
              .setModelSpec(spec).addMetadataField("signature_def").build());
      assertTrue(meta.getMetadataOrThrow("signature_def")
          .unpack(dev.selfie.savedmodels.tfserving.SignatureDefMap.class)
          .getSignatureDefMap().keySet().containsAll(Set.of("serving_default", "embedding",
              "serving_bytes")), meta.toString());
      var status = models.getModelStatus(
          dev.selfie.savedmodels.tfserving.GetModelStatusRequest.newBuilder()
              .setModelSpec(spec).build());
      assertEquals(dev.selfie.savedmodels.tfserving.ModelVersionStatus.State.AVAILABLE,
          status.getModelVersionStatus(0).getState());
      io.grpc.StatusRuntimeException e = assertThrows(io.grpc.StatusRuntimeException.class,
          () -> models.getModelStatus(dev.selfie.savedmodels.tfserving.GetModelStatusRequest
              .newBuilder().setModelSpec(spec.clone().setName("nope")).build()));
      assertEquals(io.grpc.Status.Code.NOT_FOUND, e.getStatus().getCode());
    } finally {
      ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  /** {"b64": ...} image files through serving_bytes: what selfie predict answers, or a 400. */
  @Test
  void b64ImageFilesThroughServingBytesAgreeWithPredict(@org.junit.jupiter.api.io.TempDir Path tmp)
      throws Exception {
    List<Path> files = ServingBytesTest.files(tmp);
    List<String> b64 = new ArrayList<>();
    for (Path f : files) {
      b64.add("{\"b64\": \"" + java.util.Base64.getEncoder()
          .encodeToString(java.nio.file.Files.readAllBytes(f)) + "\"}");
    }
    List<Predict.Result> want = Predict.run(new Predict.Options(finetuneRun, files, 10, 64));
    HttpResponse<String> rows = post(predictUri(server.modelUri()),
        "{\"signature_name\": \"serving_bytes\", \"instances\": [" + String.join(",", b64)
            + "]}");
    assertEquals(200, rows.statusCode(), rows.body());
    HttpResponse<String> cols = post(predictUri(server.modelUri()),
        "{\"signature_name\": \"serving_bytes\", \"inputs\": {\"image_bytes\": ["
            + String.join(",", b64) + "]}}");
    assertEquals(200, cols.statusCode(), cols.body());
    JsonNode p = Json.MAPPER.readTree(rows.body()).path("predictions");
    JsonNode o = Json.MAPPER.readTree(cols.body()).path("outputs").path("probabilities");
    for (int i = 0; i < files.size(); i++) {
      for (Predict.Prediction top : want.get(i).top()) {
        assertEquals(top.probability(), p.get(i).path("probabilities").get(top.index())
            .asDouble(), 2e-3, files.get(i) + " class " + top.index());
        assertEquals(top.probability(), o.get(i).get(top.index()).asDouble(), 2e-3);
      }
      assertEquals(want.get(i).top().get(0).index(), p.get(i).path("classes").asInt());
    }
    for (String bad : List.of("{\"b64\": \"%%%not base64\"}", "{\"b64\": \"bm90IGFuIGltYWdl\"}",
        "[1, 2]", "{\"b64\": 7}")) {
      HttpResponse<String> r = post(predictUri(server.modelUri()),
          "{\"signature_name\": \"serving_bytes\", \"instances\": [" + bad + "]}");
      assertEquals(400, r.statusCode(), bad + " -> " + r.body());
      assertTrue(Json.MAPPER.readTree(r.body()).path("error").asText().length() > 0, r.body());
    }
    assertEquals(200, post(predictUri(server.modelUri()), "{\"signature_name\": \"serving_bytes\","
        + " \"instances\": [" + b64.get(0) + "]}").statusCode());
  }

  static Serve.Options parse(String... args) {
    ServeCommand cmd = new ServeCommand();
    new CommandLine(cmd).parseArgs(args);
    return cmd.options();
  }

  @Test
  void optionsParseWithTheDocumentedDefaults() {
    assertEquals(new Serve.Options(Path.of("/some/dir"), "127.0.0.1", 8501, "selfie", 64,
        Duration.ofMillis(2), 16), parse("--model", "/some/dir"));
    assertEquals(new Serve.Options(Path.of("m"), "0.0.0.0", 0, "x", 8, Duration.ofMillis(0), 16),
        parse("--model", "m", "--host", "0.0.0.0", "--port", "0", "--name", "x",
            "--max-batch", "8", "--max-latency-ms", "0"));
    assertEquals(8500, parse("--model", "m").grpcPort());
    assertEquals(0, parse("--model", "m", "--grpc-port", "0").grpcPort());
    assertThrows(IllegalArgumentException.class,
        () -> parse("--model", "m", "--grpc-port", "-1"));
    assertThrows(IllegalArgumentException.class,
        () -> parse("--model", "m", "--grpc-port", "8501"));
    assertThrows(IllegalArgumentException.class, () -> parse("--model", "m", "--max-batch", "0"));
    assertThrows(IllegalArgumentException.class, () -> parse("--model", "m", "--name", "a/b"));
    assertThrows(IllegalArgumentException.class, () -> parse("--model", "m", "--port", "70000"));
  }

  @Test
  void badModelDirectoriesAreNamed() throws Exception {
    Path empty = ExportTestRuns.root().resolve("not-a-model");
    java.nio.file.Files.createDirectories(empty);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> Serve.start(Serve.Options.defaults(empty).withPort(0).withGrpcPort(0)));
    assertTrue(e.getMessage().contains(empty.toString()) && e.getMessage().contains("--model"),
        e.getMessage());
    StringBuilder err = new StringBuilder();
    CommandLine cl = Main.commandLine();
    java.io.StringWriter sw = new java.io.StringWriter();
    cl.setErr(new java.io.PrintWriter(sw));
    assertEquals(2, cl.execute("serve", "--model", empty.resolve("missing").toString(), "--port",
        "0"));
    err.append(sw);
    assertTrue(err.toString().contains("no such directory"), err.toString());
  }

  /**
   * The real CLI in a child JVM: prints the URLs, answers a predict over REST and gRPC, exits 0
   * on SIGTERM with both ports closed.
   */
  @Test
  void serveCommandInAChildJvm() throws Exception {
    String javaBin = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    int grpcPort;
    try (java.net.ServerSocket free = new java.net.ServerSocket(0)) {
      grpcPort = free.getLocalPort();
    }
    ProcessBuilder pb = new ProcessBuilder(javaBin, "-cp", System.getProperty("java.class.path"),
        Main.class.getName(), "serve", "--model", finetuneRun.resolve("savedmodel").toString(),
        "--port", "0", "--grpc-port", Integer.toString(grpcPort), "--name", "child",
        "--max-latency-ms", "0");
    pb.environment().put("TF_CPP_MIN_LOG_LEVEL", "2");
    pb.redirectErrorStream(true);
    Process p = pb.start();
    try {
      BufferedReader out = new BufferedReader(
          new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
      Pattern url = Pattern.compile("listening on (http://\\S+/v1/models/child)");
      Pattern grpcLine = Pattern.compile("gRPC on (\\S+:\\d+) ");
      URI model = null;
      String grpcTarget = null;
      StringBuilder seen = new StringBuilder();
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
      for (String line; (model == null || grpcTarget == null) && System.nanoTime() < deadline
          && (line = out.readLine()) != null; ) {
        seen.append(line).append('\n');
        Matcher m = url.matcher(line);
        if (m.find()) {
          model = URI.create(m.group(1));
        }
        Matcher g = grpcLine.matcher(line);
        if (g.find()) {
          grpcTarget = g.group(1);
        }
      }
      assertTrue(model != null, "no URL printed by selfie serve:\n" + seen);
      assertEquals("127.0.0.1:" + grpcPort, grpcTarget, seen.toString());
      Thread drain = new Thread(() -> out.lines().forEach(l -> { }));
      drain.setDaemon(true);
      drain.start();

      HttpResponse<String> r = post(predictUri(model),
          "{\"instances\": " + batchJson(images, 2) + "}");
      assertEquals(200, r.statusCode(), r.body());
      JsonNode pred = Json.MAPPER.readTree(r.body()).path("predictions");
      assertSame(library(2).get(Endpoints.SERVING_DEFAULT).get("probabilities"),
          flat(Json.MAPPER.createArrayNode()
          .add(pred.get(0).path("probabilities")).add(pred.get(1).path("probabilities"))),
          "child probabilities");

      io.grpc.ManagedChannel ch = io.grpc.Grpc.newChannelBuilder(grpcTarget,
          io.grpc.InsecureChannelCredentials.create()).build();
      try {
        var status = dev.selfie.savedmodels.tfserving.ModelServiceGrpc.newBlockingStub(ch)
            .getModelStatus(dev.selfie.savedmodels.tfserving.GetModelStatusRequest.newBuilder()
                .setModelSpec(dev.selfie.savedmodels.tfserving.ModelSpec.newBuilder()
                    .setName("child")).build());
        assertEquals(dev.selfie.savedmodels.tfserving.ModelVersionStatus.State.AVAILABLE,
            status.getModelVersionStatus(0).getState());
      } finally {
        ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      }

      p.destroy(); // SIGTERM: the shutdown hook closes the servers
      assertTrue(p.waitFor(30, TimeUnit.SECONDS), "selfie serve did not exit on SIGTERM");
      assertEquals(0, p.exitValue(), "selfie serve's exit status after SIGTERM");
      URI stopped = model;
      Exception gone = assertThrows(Exception.class, () -> get(stopped));
      assertTrue(gone instanceof ConnectException || gone.getCause() instanceof ConnectException
          || gone instanceof java.io.IOException, gone.toString());
      assertThrows(ConnectException.class,
          () -> new java.net.Socket("127.0.0.1", grpcPort).close(), "gRPC port still open");
    } finally {
      p.destroyForcibly();
    }
    assertFalse(p.isAlive());
  }
}
