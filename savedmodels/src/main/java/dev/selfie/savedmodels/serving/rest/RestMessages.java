package dev.selfie.savedmodels.serving.rest;

import dev.selfie.savedmodels.serving.ModelServer;
import dev.selfie.savedmodels.serving.Signatures;
import dev.selfie.savedmodels.serving.HostTensor;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.selfie.graph.Endpoints;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** TensorFlow Serving's REST request and response bodies (JSON). */
final class RestMessages {
  private RestMessages() {}

  static final ObjectMapper JSON = new ObjectMapper();
  private static final JsonFactory FACTORY = JSON.getFactory();

  /**
   * A parsed {@code :predict} (or {@code :classify}) body.
   *
   * @param signature the signature key asked for
   * @param rowFormat {@code "instances"} (answered with {@code "predictions"}) rather than
   *     columnar {@code "inputs"} (answered with {@code "outputs"})
   * @param instances number of instances in the row format (0 for columnar)
   * @param inputs every input of the signature by name
   */
  record PredictRequest(
      String signature, boolean rowFormat, int instances, Map<String, HostTensor> inputs) {

    /**
     * Parses and checks a body against the model's signatures.
     *
     * @throws HttpError 400 for malformed JSON, an unknown signature, a missing or unknown input,
     *     a value of the wrong dtype, out of range, or a ragged list
     */
    static PredictRequest parse(byte[] body, Map<String, ModelServer.SignatureSpec> signatures)
        throws HttpError {
      return parse(body, signatures, false);
    }

    /**
     * @param classify a {@code :classify} body: TF Serving's {@code "examples"} (one object per
     *     example, by input name) are taken as {@code "instances"}
     */
    static PredictRequest parse(byte[] body, Map<String, ModelServer.SignatureSpec> signatures,
        boolean classify) throws HttpError {
      JsonNode req;
      try {
        req = JSON.readTree(body);
      } catch (JsonProcessingException e) {
        throw new HttpError(400, "malformed JSON: " + e.getOriginalMessage());
      } catch (IOException e) {
        throw new HttpError(400, "unreadable body: " + e.getMessage());
      }
      if (req == null || !req.isObject()) {
        throw new HttpError(400, "request body must be a JSON object");
      }
      JsonNode sigName = req.get("signature_name");
      if (sigName != null && !sigName.isTextual()) {
        throw new HttpError(400, "signature_name must be a string");
      }
      String key = sigName == null ? Endpoints.SERVING_DEFAULT : sigName.asText();
      ModelServer.SignatureSpec sig = signatures.get(key);
      if (sig == null) {
        throw new HttpError(
            400, "Serving signature name: \"" + key + "\" not found in signature def");
      }
      JsonNode instances = req.get("instances");
      JsonNode inputs = req.get("inputs");
      if (classify && req.has("examples")) {
        if (instances != null) {
          throw new HttpError(400, "request must have one of \"examples\" or \"instances\"");
        }
        instances = req.get("examples");
      }
      if ((instances == null) == (inputs == null)) {
        throw new HttpError(400, "request must have exactly one of \"instances\" or \"inputs\"");
      }
      Map<String, HostTensor> feed =
          instances != null ? rows(sig, instances) : columns(sig, inputs);
      return new PredictRequest(key, instances != null, instances == null ? 0 : instances.size(),
          feed);
    }

    private static Map<String, HostTensor> rows(ModelServer.SignatureSpec sig, JsonNode instances)
        throws HttpError {
      if (!instances.isArray() || instances.isEmpty()) {
        throw new HttpError(400, "\"instances\" must be a non-empty list");
      }
      List<String> inNames = new ArrayList<>(sig.inputs().keySet());
      Map<String, HostTensor> feed = new LinkedHashMap<>();
      for (String in : inNames) {
        List<JsonNode> rows = new ArrayList<>();
        for (JsonNode inst : instances) {
          JsonNode v = inst;
          if (inNames.size() > 1 || (inst.isObject() && inst.has(in) && !inst.has("b64"))) {
            if (!inst.isObject() || !inst.has(in)) {
              throw new HttpError(400, "every instance must be an object with inputs " + inNames);
            }
            v = inst.get(in);
          }
          rows.add(v);
        }
        feed.put(in, JsonTensorCodec.parse(in, rows, sig.inputs().get(in).dtype()));
      }
      return feed;
    }

    private static Map<String, HostTensor> columns(ModelServer.SignatureSpec sig, JsonNode inputs)
        throws HttpError {
      List<String> inNames = new ArrayList<>(sig.inputs().keySet());
      boolean named = inputs.isObject() && !inputs.has("b64")
          && (inNames.size() > 1 || inputs.has(inNames.get(0)));
      if (inNames.size() > 1 && !named) {
        throw new HttpError(400, "\"inputs\" must be an object with inputs " + inNames);
      }
      if (!named && inputs.isObject() && !inputs.has("b64")) {
        List<String> given = new ArrayList<>();
        inputs.fieldNames().forEachRemaining(given::add);
        throw new HttpError(400, "unknown input(s) " + given + "; the signature takes " + inNames);
      }
      Map<String, HostTensor> feed = new LinkedHashMap<>();
      for (String in : inNames) {
        JsonNode v = named ? inputs.get(in) : inputs;
        if (v == null) {
          throw new HttpError(400, "missing input '" + in + "'; the signature takes " + inNames);
        }
        feed.put(in, JsonTensorCodec.parse(in, v, sig.inputs().get(in).dtype()));
      }
      if (named) {
        for (Iterator<String> it = inputs.fieldNames(); it.hasNext(); ) {
          String f = it.next();
          if (!sig.inputs().containsKey(f)) {
            throw new HttpError(400, "unknown input '" + f + "'; the signature takes " + inNames);
          }
        }
      }
      return feed;
    }
  }

  /**
   * The answer to a predict request: {@code {"predictions": [...]}} (one value, or one object
   * per output, per instance) or {@code {"outputs": ...}} (columnar).
   *
   * @throws HttpError 400 if the row format was asked for and an output is not batch-major
   */
  static byte[] predictResponse(PredictRequest req, Map<String, HostTensor> out)
      throws HttpError, IOException {
    ByteArrayOutputStream buf = new ByteArrayOutputStream();
    try (JsonGenerator g = FACTORY.createGenerator(buf)) {
      g.writeStartObject();
      if (req.rowFormat()) {
        long n = req.instances();
        for (Map.Entry<String, HostTensor> e : out.entrySet()) {
          long[] s = e.getValue().shape();
          if (s.length == 0 || s[0] != n) {
            throw new HttpError(
                400, "output '" + e.getKey() + "' is not batch-major (shape "
                    + Signatures.shapeString(s) + "): use the columnar \"inputs\" format");
          }
        }
        g.writeArrayFieldStart("predictions");
        for (long r = 0; r < n; r++) {
          if (out.size() == 1) {
            JsonTensorCodec.writeRow(g, out.values().iterator().next(), r);
          } else {
            g.writeStartObject();
            for (Map.Entry<String, HostTensor> e : out.entrySet()) {
              g.writeFieldName(e.getKey());
              JsonTensorCodec.writeRow(g, e.getValue(), r);
            }
            g.writeEndObject();
          }
        }
        g.writeEndArray();
      } else {
        g.writeFieldName("outputs");
        if (out.size() == 1) {
          JsonTensorCodec.write(g, out.values().iterator().next());
        } else {
          g.writeStartObject();
          for (Map.Entry<String, HostTensor> e : out.entrySet()) {
            g.writeFieldName(e.getKey());
            JsonTensorCodec.write(g, e.getValue());
          }
          g.writeEndObject();
        }
      }
      g.writeEndObject();
    }
    return buf.toByteArray();
  }

  /**
   * TF Serving's classify answer, {@code {"results": [[["label", score], ...], ...]}}: every class
   * with its probability, per example.
   *
   * @throws HttpError 400 if the signature has no {@code probabilities} [N, K] output
   */
  static byte[] classifyResponse(String signature, Map<String, HostTensor> out,
      List<String> classNames) throws HttpError, IOException {
    HostTensor p = out.get(Endpoints.PROBABILITIES);
    if (p == null || p.shape().length != 2
        || p.dtype() != org.tensorflow.proto.DataType.DT_FLOAT) {
      throw new HttpError(400, "signature '" + signature + "' has no float 'probabilities'"
          + " [N, K] output (it has " + out.keySet() + "): :classify needs a classifier");
    }
    int n = (int) p.shape()[0];
    int k = (int) p.shape()[1];
    float[] v = p.floats();
    ByteArrayOutputStream buf = new ByteArrayOutputStream();
    try (JsonGenerator g = FACTORY.createGenerator(buf)) {
      g.writeStartObject();
      g.writeArrayFieldStart("results");
      for (int i = 0; i < n; i++) {
        g.writeStartArray();
        for (int j = 0; j < k; j++) {
          g.writeStartArray();
          g.writeString(classNames != null && j < classNames.size() ? classNames.get(j)
              : "class_" + j);
          g.writeNumber(v[i * k + j]);
          g.writeEndArray();
        }
        g.writeEndArray();
      }
      g.writeEndArray();
      g.writeEndObject();
    }
    return buf.toByteArray();
  }

  /** {@code {"model_version_status": [...]}} with every version given AVAILABLE. */
  static byte[] status(Iterable<Long> versions) throws IOException {
    ObjectNode root = JSON.createObjectNode();
    var list = root.putArray("model_version_status");
    for (long version : versions) {
      ObjectNode v = list.addObject();
      v.put("version", Long.toString(version));
      v.put("state", "AVAILABLE");
      ObjectNode s = v.putObject("status");
      s.put("error_code", "OK");
      s.put("error_message", "");
    }
    return JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(root);
  }

  /** TF Serving's {@code GetModelMetadata} answer: every signature's inputs and outputs. */
  static byte[] metadata(String name, long version, ModelServer model) throws IOException {
    ObjectNode root = JSON.createObjectNode();
    ObjectNode spec = root.putObject("model_spec");
    spec.put("name", name);
    spec.put("signature_name", "");
    spec.put("version", Long.toString(version));
    ObjectNode defs =
        root.putObject("metadata").putObject("signature_def").putObject("signature_def");
    for (ModelServer.SignatureSpec sig : model.signatures().values()) {
      ObjectNode d = defs.putObject(sig.key());
      tensorInfos(d.putObject("inputs"), sig.inputs());
      tensorInfos(d.putObject("outputs"), sig.outputs());
      d.put("method_name", sig.methodName());
    }
    return JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(root);
  }

  private static void tensorInfos(ObjectNode node, Map<String, ModelServer.TensorSpec> specs) {
    specs.forEach(
        (k, t) -> {
          ObjectNode info = node.putObject(k);
          info.put("dtype", t.dtype().name());
          ObjectNode shape = info.putObject("tensor_shape");
          if (t.shape() == null) {
            shape.put("unknown_rank", true);
          } else {
            for (long d : t.shape()) {
              ObjectNode dim = shape.withArray("dim").addObject();
              dim.put("size", Long.toString(d));
              dim.put("name", "");
            }
            shape.put("unknown_rank", false);
          }
          info.put("name", t.tensorName());
        });
  }

  /** {@code {"error": message}}. */
  static byte[] error(String message) {
    try {
      return JSON.writeValueAsBytes(Map.of("error", message == null ? "error" : message));
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }
}
