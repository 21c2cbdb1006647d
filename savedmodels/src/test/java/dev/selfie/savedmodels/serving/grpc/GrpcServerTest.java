package dev.selfie.savedmodels.serving.grpc;

import dev.selfie.savedmodels.serving.ModelServer;
import dev.selfie.savedmodels.serving.Servables;
import dev.selfie.savedmodels.serving.HostTensor;
import dev.selfie.savedmodels.serving.rest.RestServer;
import dev.selfie.savedmodels.serving.rest.RestServerTest;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.protobuf.ByteString;
import com.google.protobuf.Int64Value;
import dev.selfie.savedmodels.Fixtures;
import dev.selfie.savedmodels.TinyNet;
import dev.selfie.savedmodels.tfserving.GetModelMetadataRequest;
import dev.selfie.savedmodels.tfserving.GetModelMetadataResponse;
import dev.selfie.savedmodels.tfserving.GetModelStatusRequest;
import dev.selfie.savedmodels.tfserving.GetModelStatusResponse;
import dev.selfie.savedmodels.tfserving.ModelServiceGrpc;
import dev.selfie.savedmodels.tfserving.ModelSpec;
import dev.selfie.savedmodels.tfserving.ModelVersionStatus;
import dev.selfie.savedmodels.tfserving.PredictRequest;
import dev.selfie.savedmodels.tfserving.PredictResponse;
import dev.selfie.savedmodels.tfserving.PredictionServiceGrpc;
import dev.selfie.savedmodels.tfserving.SignatureDefMap;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tensorflow.proto.DataType;
import org.tensorflow.proto.SignatureDef;
import org.tensorflow.proto.TensorProto;
import org.tensorflow.proto.TensorShapeProto;

/**
 * {@link GrpcServer} over loopback with grpc-java's own client, beside a {@link RestServer} on
 * the same model and metrics: TF Serving's messages, the same answers as REST, error codes.
 */
class GrpcServerTest {

  static final ObjectMapper JSON = new ObjectMapper();

  @TempDir static Path tmp;
  static byte[][][][] images = TinyNet.images(16, 7);
  static Map<String, HostTensor> expected;
  static ModelServer model;
  static RestServer rest;
  static GrpcServer grpc;
  static ManagedChannel channel;
  static PredictionServiceGrpc.PredictionServiceBlockingStub predict;
  static ModelServiceGrpc.ModelServiceBlockingStub status;

  @BeforeAll
  static void start() throws Exception {
    Path dir = tmp.resolve("model");
    expected = Fixtures.exportTiny(dir, 1, images);
    model = ModelServer.load(dir, new ModelServer.Options(64, Duration.ofMillis(1), 4096, 1));
    rest = RestServer.start(Map.of("tiny", model), RestServer.Options.defaults().withPort(0));
    grpc = GrpcServer.start(Servables.of(Map.of("tiny", model), 1),
        GrpcServer.Options.defaults().withPort(0), rest.metrics());
    channel = Grpc.newChannelBuilder(grpc.target(), InsecureChannelCredentials.create()).build();
    predict = PredictionServiceGrpc.newBlockingStub(channel);
    status = ModelServiceGrpc.newBlockingStub(channel);
  }

  @AfterAll
  static void stop() throws Exception {
    channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    grpc.close();
    rest.close();
    model.close();
  }

  static ModelSpec spec(String name) {
    return ModelSpec.newBuilder().setName(name).build();
  }

  /** Images [from, to) as a uint8 TensorProto [n, 8, 8, 3], raw bytes in tensor_content. */
  static TensorProto imagesProto(int from, int to) {
    HostTensor t = Fixtures.uint8(java.util.Arrays.copyOfRange(images, from, to));
    TensorProto.Builder b = TensorProto.newBuilder().setDtype(DataType.DT_UINT8)
        .setTensorContent(ByteString.copyFrom(t.data()));
    for (long d : t.shape()) {
      b.getTensorShapeBuilder().addDimBuilder().setSize(d);
    }
    return b.build();
  }

  /** The same images with their values in int_val (how hand-built clients often send them). */
  static TensorProto imagesIntVal(int from, int to) {
    TensorProto raw = imagesProto(from, to);
    TensorProto.Builder b = raw.toBuilder().clearTensorContent();
    for (byte v : raw.getTensorContent().toByteArray()) {
      b.addIntVal(v & 0xff);
    }
    return b.build();
  }

  static PredictResponse predict(String signature, TensorProto images, String... filter) {
    ModelSpec.Builder s = ModelSpec.newBuilder().setName("tiny");
    if (signature != null) {
      s.setSignatureName(signature);
    }
    return predict.predict(PredictRequest.newBuilder().setModelSpec(s)
        .putInputs("images", images).addAllOutputFilter(List.of(filter)).build());
  }

  static float[] floats(TensorProto t) {
    float[] out = new float[t.getFloatValCount()];
    for (int i = 0; i < out.length; i++) {
      out[i] = t.getFloatVal(i);
    }
    return out;
  }

  static long[] shape(TensorProto t) {
    return t.getTensorShape().getDimList().stream().mapToLong(TensorShapeProto.Dim::getSize)
        .toArray();
  }

  @Test
  void predictAnswersWhatTheSessionAndTheRestServerAnswer() throws Exception {
    PredictResponse r = predict(null, imagesProto(0, 5));
    assertEquals(List.of("classes", "logits", "probabilities"),
        r.getOutputsMap().keySet().stream().sorted().toList());
    assertEquals("tiny", r.getModelSpec().getName());
    assertEquals(1, r.getModelSpec().getVersion().getValue());
    assertEquals("serving_default", r.getModelSpec().getSignatureName());
    TensorProto logits = r.getOutputsOrThrow("logits");
    assertEquals(DataType.DT_FLOAT, logits.getDtype());
    assertArrayEquals(new long[] {5, TinyNet.CLASSES}, shape(logits));
    assertArrayEquals(expected.get("logits").rows(0, 5).floats(), floats(logits), 1e-5f);
    TensorProto classes = r.getOutputsOrThrow("classes");
    assertEquals(DataType.DT_INT64, classes.getDtype());
    assertArrayEquals(java.util.Arrays.copyOf(expected.get("classes").longs(), 5),
        classes.getInt64ValList().stream().mapToLong(Long::longValue).toArray());

    // The REST server on the same model answers the same floats (JSON prints them exactly).
    HttpResponse<String> http = HttpClient.newHttpClient().send(
        HttpRequest.newBuilder(URI.create(rest.baseUri() + "/v1/models/tiny:predict"))
            .POST(HttpRequest.BodyPublishers.ofString("{\"inputs\": " + RestServerTest.imagesJson(0, 5) + "}")).build(),
        HttpResponse.BodyHandlers.ofString());
    assertEquals(200, http.statusCode(), http.body());
    JsonNode restLogits = JSON.readTree(http.body()).get("outputs").get("logits");
    float[] flat = floats(logits);
    for (int i = 0; i < 5; i++) {
      for (int k = 0; k < TinyNet.CLASSES; k++) {
        assertEquals(flat[i * TinyNet.CLASSES + k], restLogits.get(i).get(k).floatValue());
      }
    }

    // Values in int_val instead of tensor_content: the same answer.
    assertEquals(r.getOutputsMap(), predict(null, imagesIntVal(0, 5)).getOutputsMap());
  }

  @Test
  void otherSignaturesVersionsAndOutputFilter() {
    PredictResponse e = predict.predict(PredictRequest.newBuilder()
        .setModelSpec(ModelSpec.newBuilder().setName("tiny").setSignatureName("embedding")
            .setVersion(Int64Value.of(1)))
        .putInputs("images", imagesProto(3, 4)).build());
    assertArrayEquals(expected.get("embedding").rows(3, 4).floats(),
        floats(e.getOutputsOrThrow("embedding")), 1e-5f);
    PredictResponse only = predict(null, imagesProto(0, 2), "classes");
    assertEquals(java.util.Set.of("classes"), only.getOutputsMap().keySet());
    StatusRuntimeException bad = assertThrows(StatusRuntimeException.class,
        () -> predict(null, imagesProto(0, 2), "nope"));
    assertEquals(Status.Code.INVALID_ARGUMENT, bad.getStatus().getCode());
    assertTrue(bad.getStatus().getDescription().contains("nope"), bad.getMessage());
  }

  @Test
  void metadataListsTheSignatureDefs() throws Exception {
    GetModelMetadataResponse r = predict.getModelMetadata(GetModelMetadataRequest.newBuilder()
        .setModelSpec(spec("tiny")).addMetadataField("signature_def").build());
    assertEquals("tiny", r.getModelSpec().getName());
    assertEquals(1, r.getModelSpec().getVersion().getValue());
    SignatureDefMap defs = r.getMetadataOrThrow("signature_def").unpack(SignatureDefMap.class);
    assertEquals(java.util.Set.of("serving_default", "embedding"),
        defs.getSignatureDefMap().keySet());
    SignatureDef serving = defs.getSignatureDefOrThrow("serving_default");
    assertEquals("tensorflow/serving/predict", serving.getMethodName());
    assertEquals(DataType.DT_UINT8, serving.getInputsOrThrow("images").getDtype());
    assertEquals(List.of(-1L, 8L, 8L, 3L), serving.getInputsOrThrow("images").getTensorShape()
        .getDimList().stream().map(TensorShapeProto.Dim::getSize).toList());
    assertEquals(DataType.DT_INT64, serving.getOutputsOrThrow("classes").getDtype());

    StatusRuntimeException none = assertThrows(StatusRuntimeException.class,
        () -> predict.getModelMetadata(GetModelMetadataRequest.newBuilder()
            .setModelSpec(spec("tiny")).build()));
    assertEquals(Status.Code.INVALID_ARGUMENT, none.getStatus().getCode());
  }

  @Test
  void statusReportsTheLoadedVersion() {
    for (GetModelStatusRequest req : List.of(
        GetModelStatusRequest.newBuilder().setModelSpec(spec("tiny")).build(),
        GetModelStatusRequest.newBuilder().setModelSpec(spec("tiny").toBuilder()
            .setVersion(Int64Value.of(1))).build())) {
      GetModelStatusResponse r = status.getModelStatus(req);
      assertEquals(1, r.getModelVersionStatusCount());
      ModelVersionStatus v = r.getModelVersionStatus(0);
      assertEquals(1, v.getVersion());
      assertEquals(ModelVersionStatus.State.AVAILABLE, v.getState());
      assertEquals(org.tensorflow.proto.error.Code.OK, v.getStatus().getErrorCode());
    }
  }

  static Status.Code codeOf(Runnable call) {
    return assertThrows(StatusRuntimeException.class, call::run).getStatus().getCode();
  }

  @Test
  void unknownModelOrVersionIsNotFoundAnUnknownSignatureFailedPrecondition() {
    assertEquals(Status.Code.NOT_FOUND, codeOf(() -> status.getModelStatus(
        GetModelStatusRequest.newBuilder().setModelSpec(spec("nope")).build())));
    assertEquals(Status.Code.NOT_FOUND, codeOf(() -> status.getModelStatus(
        GetModelStatusRequest.newBuilder().setModelSpec(spec("tiny").toBuilder()
            .setVersion(Int64Value.of(2))).build())));
    assertEquals(Status.Code.NOT_FOUND, codeOf(() -> predict.predict(PredictRequest.newBuilder()
        .setModelSpec(spec("nope")).putInputs("images", imagesProto(0, 1)).build())));
    assertEquals(Status.Code.NOT_FOUND, codeOf(() -> predict.getModelMetadata(
        GetModelMetadataRequest.newBuilder().setModelSpec(spec("nope"))
            .addMetadataField("signature_def").build())));
    // As TF Serving: an unknown signature of a model that exists is FAILED_PRECONDITION.
    assertEquals(Status.Code.FAILED_PRECONDITION,
        codeOf(() -> predict("serving_nope", imagesProto(0, 1))));
    assertEquals(Status.Code.NOT_FOUND, codeOf(() -> predict.predict(PredictRequest.newBuilder()
        .setModelSpec(spec("tiny").toBuilder().setVersion(Int64Value.of(7)))
        .putInputs("images", imagesProto(0, 1)).build())));
  }

  @Test
  void badInputsAreInvalidArgumentNamingTheInputAndServingGoesOn() {
    TensorProto good = imagesProto(0, 1);
    TensorProto outOfRange = imagesIntVal(0, 1).toBuilder().setIntVal(3, 300).build();
    TensorProto floats = TensorProto.newBuilder().setDtype(DataType.DT_FLOAT)
        .setTensorShape(good.getTensorShape()).addFloatVal(0.5f).build();
    TensorProto wrongShape = good.toBuilder().setTensorShape(TensorShapeProto.newBuilder()
        .addDim(TensorShapeProto.Dim.newBuilder().setSize(1))
        .addDim(TensorShapeProto.Dim.newBuilder().setSize(192))).build();
    TensorProto shortContent = good.toBuilder()
        .setTensorContent(good.getTensorContent().substring(1)).build();
    TensorProto fewValues = imagesIntVal(0, 1).toBuilder().clearIntVal().addIntVal(1)
        .addIntVal(2).build();
    TensorProto huge = good.toBuilder().setTensorShape(TensorShapeProto.newBuilder()
        .addDim(TensorShapeProto.Dim.newBuilder().setSize(1L << 40))
        .addDim(TensorShapeProto.Dim.newBuilder().setSize(8))
        .addDim(TensorShapeProto.Dim.newBuilder().setSize(8))
        .addDim(TensorShapeProto.Dim.newBuilder().setSize(3))).clearTensorContent()
        .addIntVal(1).build();
    TensorProto fewStrings = TensorProto.newBuilder().setDtype(DataType.DT_STRING)
        .setTensorShape(TensorShapeProto.newBuilder()
            .addDim(TensorShapeProto.Dim.newBuilder().setSize(1 << 24)))
        .addStringVal(ByteString.copyFromUtf8("a")).addStringVal(ByteString.copyFromUtf8("b"))
        .build();
    for (TensorProto bad : List.of(outOfRange, floats, wrongShape, shortContent, fewValues,
        huge, fewStrings)) {
      StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
          () -> predict(null, bad));
      assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), e.getMessage());
      assertTrue(e.getStatus().getDescription().contains("'images'"), e.getMessage());
    }
    // A missing and an unknown input: the signature's inputs are named.
    StatusRuntimeException unknown = assertThrows(StatusRuntimeException.class,
        () -> predict.predict(PredictRequest.newBuilder().setModelSpec(spec("tiny"))
            .putInputs("pixels", good).build()));
    assertEquals(Status.Code.INVALID_ARGUMENT, unknown.getStatus().getCode());
    assertTrue(unknown.getStatus().getDescription().contains("images"), unknown.getMessage());
    assertEquals(Status.Code.INVALID_ARGUMENT, codeOf(() -> predict.predict(
        PredictRequest.newBuilder().setModelSpec(ModelSpec.getDefaultInstance())
            .putInputs("images", good).build())));
    assertEquals(3, shape(predict(null, imagesProto(0, 3)).getOutputsOrThrow("logits"))[0]);
  }

  @Test
  void concurrentCallsAllSucceedAndAreCountedInTheMetrics() throws Exception {
    ExecutorService clients = Executors.newFixedThreadPool(8);
    try {
      List<Future<PredictResponse>> calls = new ArrayList<>();
      for (int i = 0; i < 64; i++) {
        int at = i % 16;
        calls.add(clients.submit(() -> predict(null, imagesProto(at, at + 1))));
      }
      for (int i = 0; i < calls.size(); i++) {
        int at = i % 16;
        assertArrayEquals(expected.get("logits").rows(at, at + 1).floats(),
            floats(calls.get(i).get().getOutputsOrThrow("logits")), 1e-5f);
      }
    } finally {
      clients.shutdownNow();
    }
    assertThrows(StatusRuntimeException.class, () -> predict("serving_nope", imagesProto(0, 1)));
    String text = new String(rest.metrics().scrape(), java.nio.charset.StandardCharsets.UTF_8);
    java.util.regex.Matcher ok = java.util.regex.Pattern
        .compile("selfie_serving_requests_total\\{code=\"OK\",kind=\"grpc_predict\"\\} (\\S+)")
        .matcher(text);
    assertTrue(ok.find(), text);
    assertTrue(Double.parseDouble(ok.group(1)) >= 64, text);
    assertTrue(text.contains(
        "selfie_serving_requests_total{code=\"FAILED_PRECONDITION\",kind=\"grpc_predict\"}"),
        text);
    assertTrue(text.contains("selfie_serving_queue_depth{queue=\"grpc\"}"), text);
  }

  @Test
  void aClientThatStallsBeforeItsRequestIsCompleteGetsDeadlineExceeded() throws Exception {
    GrpcServer server = GrpcServer.start(Map.of("tiny", model), 1,
        GrpcServer.Options.defaults().withPort(0).withRequestTimeout(Duration.ofMillis(300)));
    ManagedChannel ch =
        Grpc.newChannelBuilder(server.target(), InsecureChannelCredentials.create()).build();
    try {
      // Headers sent, then nothing: no message, no end of stream. (Declared streaming on the
      // client only so that grpc-java flushes the headers without waiting for the message; the
      // server knows Predict as unary.)
      java.util.concurrent.CompletableFuture<Status> closed =
          new java.util.concurrent.CompletableFuture<>();
      io.grpc.ClientCall<PredictRequest, PredictResponse> call = ch.newCall(
          PredictionServiceGrpc.getPredictMethod().toBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.BIDI_STREAMING).build(),
          io.grpc.CallOptions.DEFAULT);
      call.start(new io.grpc.ClientCall.Listener<>() {
        @Override
        public void onClose(Status status, io.grpc.Metadata trailers) {
          closed.complete(status);
        }
      }, new io.grpc.Metadata());
      call.request(1);
      Status s = closed.get(10, TimeUnit.SECONDS);
      assertEquals(Status.Code.DEADLINE_EXCEEDED, s.getCode(), s.toString());
      assertTrue(s.getDescription().contains("did not arrive"), s.toString());
      // The server goes on serving, on the same connection.
      PredictResponse r = PredictionServiceGrpc.newBlockingStub(ch).predict(PredictRequest
          .newBuilder().setModelSpec(spec("tiny")).putInputs("images", imagesProto(0, 1))
          .build());
      assertArrayEquals(expected.get("logits").rows(0, 1).floats(),
          floats(r.getOutputsOrThrow("logits")), 1e-5f);
    } finally {
      ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      server.close();
    }
  }

  @Test
  void closeLetsCallsInFlightFinishAndRefusesNewOnes() throws Exception {
    // A model that waits 1.5 s for a batch to fill: a call is in flight when close() begins.
    ModelServer slow = ModelServer.load(tmp.resolve("model"),
        new ModelServer.Options(64, Duration.ofMillis(1500), 4096, 1));
    GrpcServer server = GrpcServer.start(Map.of("tiny", slow), 1,
        GrpcServer.Options.defaults().withPort(0));
    ManagedChannel ch =
        Grpc.newChannelBuilder(server.target(), InsecureChannelCredentials.create()).build();
    try {
      var inFlight = PredictionServiceGrpc.newFutureStub(ch).predict(PredictRequest.newBuilder()
          .setModelSpec(spec("tiny")).putInputs("images", imagesProto(0, 2)).build());
      Thread.sleep(400);
      Thread closer = new Thread(server::close);
      closer.start();
      Thread.sleep(200);
      StatusRuntimeException refused = assertThrows(StatusRuntimeException.class,
          () -> PredictionServiceGrpc.newBlockingStub(ch).predict(PredictRequest.newBuilder()
              .setModelSpec(spec("tiny")).putInputs("images", imagesProto(0, 1)).build()));
      assertEquals(Status.Code.UNAVAILABLE, refused.getStatus().getCode());
      PredictResponse r = inFlight.get(10, TimeUnit.SECONDS);
      assertArrayEquals(expected.get("logits").rows(0, 2).floats(),
          floats(r.getOutputsOrThrow("logits")), 1e-5f);
      closer.join(10_000);
    } finally {
      ch.shutdownNow();
      server.close();
      slow.close();
    }
  }
}
