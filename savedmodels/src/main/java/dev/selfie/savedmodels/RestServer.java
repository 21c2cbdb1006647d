package dev.selfie.savedmodels;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import org.tensorflow.exceptions.TFInvalidArgumentException;
import org.tensorflow.proto.DataType;

/**
 * An HTTP server speaking TensorFlow Serving's REST API for {@link ModelServer}s, so clients
 * written for TF Serving work unchanged:
 *
 * <ul>
 *   <li>{@code GET /v1/models/NAME[/versions/V]}: model status
 *       ({@code {"model_version_status":[{"version":"1","state":"AVAILABLE",...}]}}).
 *   <li>{@code GET /v1/models/NAME[/versions/V]/metadata}: the signature defs (dtypes, shapes).
 *   <li>{@code POST /v1/models/NAME[/versions/V]:predict}: body {@code {"signature_name": ...,
 *       "instances": [...]}} (row format, answered with {@code {"predictions": [...]}}) or
 *       {@code {"inputs": ...}} (columnar, answered with {@code {"outputs": ...}}). With one
 *       input, an instance (or {@code inputs}) is the value itself; with several, an object by
 *       input name. With one output, a prediction is the value itself; with several, an object.
 * </ul>
 *
 * <p>Errors are {@code {"error": "..."}}: 400 for a malformed or mismatching request (bad JSON,
 * wrong shape or dtype, unknown signature), 404 for an unknown model, version or path, 405 for a
 * wrong method, 413 for a body over the limit, 503 when the model's queue is full. The server
 * keeps serving after any of them.
 *
 * <p>Binds 127.0.0.1 by default; port 0 picks a free port ({@link #port()}). Requests are handled
 * by a bounded pool of threads; when its queue is full the accepting thread runs the request
 * itself, which slows accepting (back-pressure) instead of failing.
 */
public final class RestServer implements AutoCloseable {

  /**
   * @param host address to bind (127.0.0.1: local only)
   * @param port TCP port, 0 for any free port
   * @param maxBodyBytes largest request body accepted (larger: 413)
   * @param threads request-handling threads
   * @param version the model version reported and accepted in {@code /versions/V}
   */
  public record Options(String host, int port, long maxBodyBytes, int threads, long version) {
    public Options {
      if (port < 0 || port > 65535 || maxBodyBytes < 1 || threads < 1 || version < 0) {
        throw new IllegalArgumentException("bad REST server options: " + this);
      }
    }

    /** 127.0.0.1:8501 (TF Serving's REST port), 64 MiB bodies, 16 threads, version 1. */
    public static Options defaults() {
      return new Options("127.0.0.1", 8501, 64L << 20, 16, 1);
    }

    public Options withPort(int p) {
      return new Options(host, p, maxBodyBytes, threads, version);
    }

    public Options withMaxBodyBytes(long n) {
      return new Options(host, port, n, threads, version);
    }
  }

  private static final String PREFIX = "/v1/models/";
  /** Most bytes of an over-limit body read and discarded so that the 413 reaches the client. */
  private static final long DRAIN_CAP = 16L << 20;

  static {
    // The JDK server writes the response headers and body in separate packets; without
    // TCP_NODELAY, Nagle's algorithm and the client's delayed ACK add ~40 ms to every answer.
    if (System.getProperty("sun.net.httpserver.nodelay") == null) {
      System.setProperty("sun.net.httpserver.nodelay", "true");
    }
  }
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final JsonFactory FACTORY = JSON.getFactory();

  private final Map<String, ModelServer> models;
  private final Options options;
  private final HttpServer http;
  private final ThreadPoolExecutor pool;

  private RestServer(Map<String, ModelServer> models, Options options) throws IOException {
    this.models = Map.copyOf(models);
    this.options = options;
    this.pool =
        new ThreadPoolExecutor(
            options.threads(), options.threads(), 60, TimeUnit.SECONDS,
            new ArrayBlockingQueue<>(4 * options.threads()),
            r -> {
              Thread t = new Thread(r, "rest-server");
              t.setDaemon(true);
              return t;
            },
            new ThreadPoolExecutor.CallerRunsPolicy());
    this.http = HttpServer.create(new InetSocketAddress(options.host(), options.port()), 0);
    http.createContext("/", this::handle);
    http.setExecutor(pool);
    http.start();
  }

  /**
   * Starts serving {@code models} by name. The caller keeps ownership of the model servers (close
   * them after this server).
   */
  public static RestServer start(Map<String, ModelServer> models, Options options)
      throws IOException {
    if (models.isEmpty()) {
      throw new IllegalArgumentException("no model to serve");
    }
    return new RestServer(models, options);
  }

  /** The bound port. */
  public int port() {
    return http.getAddress().getPort();
  }

  /** {@code http://host:port}. */
  public URI baseUri() {
    return URI.create("http://" + options.host() + ":" + port());
  }

  /** Stops accepting, waits up to 1 s for exchanges in flight, stops the threads. */
  @Override
  public void close() {
    http.stop(1);
    pool.shutdownNow();
  }

  /** An error answered as {@code {"error": message}} with an HTTP status. */
  static final class HttpError extends Exception {
    final int status;

    HttpError(int status, String message) {
      super(message, null, false, false);
      this.status = status;
    }
  }

  private void handle(HttpExchange ex) {
    try (ex) {
      int status = 200;
      byte[] body;
      try {
        body = route(ex);
      } catch (HttpError e) {
        status = e.status;
        body = error(e.getMessage());
      } catch (ModelServer.BadRequestException | TFInvalidArgumentException e) {
        status = 400;
        body = error(e.getMessage());
      } catch (RejectedExecutionException e) {
        status = 503;
        body = error(e.getMessage());
      } catch (RuntimeException e) {
        status = 500;
        body = error("internal error: " + e);
      }
      ex.getResponseHeaders().set("Content-Type", "application/json");
      ex.sendResponseHeaders(status, body.length);
      try (OutputStream out = ex.getResponseBody()) {
        out.write(body);
      }
    } catch (IOException e) {
      // The client went away; nothing to answer.
    }
  }

  private byte[] route(HttpExchange ex) throws HttpError, IOException {
    String path = ex.getRequestURI().getRawPath();
    if (!path.startsWith(PREFIX) || path.length() == PREFIX.length()) {
      throw new HttpError(404, "not found: " + path + " (expected /v1/models/NAME...)");
    }
    String rest = path.substring(PREFIX.length());
    String verb = null;
    int colon = rest.lastIndexOf(':');
    if (colon >= 0 && rest.indexOf('/', colon) < 0) {
      verb = rest.substring(colon + 1);
      rest = rest.substring(0, colon);
    }
    String[] parts = rest.split("/", -1);
    String name = parts[0];
    int i = 1;
    Long version = null;
    if (parts.length >= 3 && parts[1].equals("versions")) {
      try {
        version = Long.parseLong(parts[2]);
      } catch (NumberFormatException e) {
        throw new HttpError(400, "bad version '" + parts[2] + "': expected a number");
      }
      i = 3;
    }
    boolean metadata = false;
    if (parts.length == i + 1 && parts[i].equals("metadata")) {
      metadata = true;
      i++;
    }
    if (parts.length != i) {
      throw new HttpError(404, "not found: " + path);
    }
    ModelServer model = models.get(name);
    String servable =
        version == null ? "Latest(" + name + ")" : "Specific(" + name + ", " + version + ")";
    if (model == null || (version != null && version != options.version())) {
      throw new HttpError(404, "Servable not found for request: " + servable);
    }
    String method = ex.getRequestMethod();
    if (verb == null) {
      if (!method.equals("GET")) {
        throw new HttpError(405, method + " not allowed on " + path + ": use GET");
      }
      return metadata ? metadata(name, model) : status();
    }
    if (metadata) {
      throw new HttpError(404, "not found: " + path);
    }
    if (!method.equals("POST")) {
      throw new HttpError(405, method + " not allowed on " + path + ": use POST");
    }
    if (!verb.equals("predict")) {
      throw new HttpError(
          400, "unsupported verb ':" + verb + "': this server implements :predict only");
    }
    return predict(model, readBody(ex));
  }

  private byte[] status() throws IOException {
    ObjectNode root = JSON.createObjectNode();
    ObjectNode v = root.putArray("model_version_status").addObject();
    v.put("version", Long.toString(options.version()));
    v.put("state", "AVAILABLE");
    ObjectNode s = v.putObject("status");
    s.put("error_code", "OK");
    s.put("error_message", "");
    return JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(root);
  }

  private byte[] metadata(String name, ModelServer model) throws IOException {
    ObjectNode root = JSON.createObjectNode();
    ObjectNode spec = root.putObject("model_spec");
    spec.put("name", name);
    spec.put("signature_name", "");
    spec.put("version", Long.toString(options.version()));
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

  private byte[] readBody(HttpExchange ex) throws HttpError, IOException {
    long limit = options.maxBodyBytes();
    String length = ex.getRequestHeaders().getFirst("Content-Length");
    long declared = -1;
    if (length != null) {
      try {
        declared = Long.parseLong(length.trim());
      } catch (NumberFormatException e) {
        throw new HttpError(400, "bad Content-Length '" + length + "'");
      }
    }
    try (InputStream in = ex.getRequestBody()) {
      if (declared > limit) {
        drain(ex, in);
        throw new HttpError(
            413, "request body of " + declared + " bytes exceeds the limit of " + limit);
      }
      byte[] body = in.readNBytes((int) Math.min(Integer.MAX_VALUE - 8, limit + 1));
      if (body.length > limit) {
        drain(ex, in);
        throw new HttpError(413, "request body exceeds the limit of " + limit + " bytes");
      }
      return body;
    }
  }

  /**
   * Reads and discards what is left of a rejected body (up to a cap), so that closing the
   * connection does not reset it before the client has read the 413; then asks to close it.
   */
  private static void drain(HttpExchange ex, InputStream in) throws IOException {
    ex.getResponseHeaders().set("Connection", "close");
    byte[] buf = new byte[64 * 1024];
    long left = DRAIN_CAP;
    int n;
    while (left > 0 && (n = in.read(buf, 0, (int) Math.min(buf.length, left))) > 0) {
      left -= n;
    }
  }

  private byte[] predict(ModelServer model, byte[] body) throws HttpError, IOException {
    JsonNode req;
    try {
      req = JSON.readTree(body);
    } catch (JsonProcessingException e) {
      throw new HttpError(400, "malformed JSON: " + e.getOriginalMessage());
    }
    if (req == null || !req.isObject()) {
      throw new HttpError(400, "request body must be a JSON object");
    }
    JsonNode sigName = req.get("signature_name");
    if (sigName != null && !sigName.isTextual()) {
      throw new HttpError(400, "signature_name must be a string");
    }
    String key = sigName == null ? "serving_default" : sigName.asText();
    ModelServer.SignatureSpec sig = model.signatures().get(key);
    if (sig == null) {
      throw new HttpError(
          400, "Serving signature name: \"" + key + "\" not found in signature def");
    }
    JsonNode instances = req.get("instances");
    JsonNode inputs = req.get("inputs");
    if ((instances == null) == (inputs == null)) {
      throw new HttpError(400, "request must have exactly one of \"instances\" or \"inputs\"");
    }
    List<String> inNames = new ArrayList<>(sig.inputs().keySet());
    Map<String, HostTensor> feed = new LinkedHashMap<>();
    if (instances != null) {
      if (!instances.isArray() || instances.isEmpty()) {
        throw new HttpError(400, "\"instances\" must be a non-empty list");
      }
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
        feed.put(in, JsonTensors.parse(in, rows, sig.inputs().get(in).dtype()));
      }
    } else {
      boolean named =
          inputs.isObject() && !inputs.has("b64")
              && (inNames.size() > 1 || inputs.has(inNames.get(0)));
      if (inNames.size() > 1 && !named) {
        throw new HttpError(400, "\"inputs\" must be an object with inputs " + inNames);
      }
      for (String in : inNames) {
        JsonNode v = named ? inputs.get(in) : inputs;
        if (v == null) {
          throw new HttpError(400, "missing input '" + in + "'; the signature takes " + inNames);
        }
        feed.put(in, JsonTensors.parse(in, v, sig.inputs().get(in).dtype()));
      }
      if (named) {
        for (Iterator<String> it = inputs.fieldNames(); it.hasNext(); ) {
          String f = it.next();
          if (!sig.inputs().containsKey(f)) {
            throw new HttpError(400, "unknown input '" + f + "'; the signature takes " + inNames);
          }
        }
      }
    }
    Map<String, HostTensor> out = model.predict(key, feed);
    ByteArrayOutputStream buf = new ByteArrayOutputStream();
    try (JsonGenerator g = FACTORY.createGenerator(buf)) {
      g.writeStartObject();
      if (instances != null) {
        long n = instances.size();
        for (Map.Entry<String, HostTensor> e : out.entrySet()) {
          long[] s = e.getValue().shape();
          if (s.length == 0 || s[0] != n) {
            throw new HttpError(
                400, "output '" + e.getKey() + "' is not batch-major (shape "
                    + ModelServer.shapeString(s) + "): use the columnar \"inputs\" format");
          }
        }
        g.writeArrayFieldStart("predictions");
        for (long r = 0; r < n; r++) {
          if (out.size() == 1) {
            JsonTensors.writeRow(g, out.values().iterator().next(), r);
          } else {
            g.writeStartObject();
            for (Map.Entry<String, HostTensor> e : out.entrySet()) {
              g.writeFieldName(e.getKey());
              JsonTensors.writeRow(g, e.getValue(), r);
            }
            g.writeEndObject();
          }
        }
        g.writeEndArray();
      } else {
        g.writeFieldName("outputs");
        if (out.size() == 1) {
          JsonTensors.write(g, out.values().iterator().next());
        } else {
          g.writeStartObject();
          for (Map.Entry<String, HostTensor> e : out.entrySet()) {
            g.writeFieldName(e.getKey());
            JsonTensors.write(g, e.getValue());
          }
          g.writeEndObject();
        }
      }
      g.writeEndObject();
    }
    return buf.toByteArray();
  }

  private static byte[] error(String message) {
    try {
      return JSON.writeValueAsBytes(Map.of("error", message == null ? "error" : message));
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }

  /** JSON (nested lists) to and from {@link HostTensor}. */
  static final class JsonTensors {
    private JsonTensors() {}

    /** A tensor whose first dimension is {@code rows} (one JSON value per row). */
    static HostTensor parse(String input, List<JsonNode> rows, DataType dtype) throws HttpError {
      JsonNode first = rows.get(0);
      List<Long> inner = shapeOf(first);
      long[] shape = new long[inner.size() + 1];
      shape[0] = rows.size();
      for (int i = 0; i < inner.size(); i++) {
        shape[i + 1] = inner.get(i);
      }
      Filler f = new Filler(input, dtype, shape);
      for (JsonNode r : rows) {
        f.fill(r, 1);
      }
      return f.done();
    }

    /** A whole tensor given as nested lists (or a scalar). */
    static HostTensor parse(String input, JsonNode value, DataType dtype) throws HttpError {
      List<Long> dims = shapeOf(value);
      long[] shape = dims.stream().mapToLong(Long::longValue).toArray();
      Filler f = new Filler(input, dtype, shape);
      f.fill(value, 0);
      return f.done();
    }

    private static List<Long> shapeOf(JsonNode v) {
      List<Long> dims = new ArrayList<>();
      while (v.isArray()) {
        dims.add((long) v.size());
        if (v.isEmpty()) {
          break;
        }
        v = v.get(0);
      }
      return dims;
    }

    private static final class Filler {
      final String input;
      final DataType dtype;
      final long[] shape;
      final ByteBuffer buf;

      Filler(String input, DataType dtype, long[] shape) throws HttpError {
        this.input = input;
        this.dtype = dtype;
        this.shape = shape;
        if (!HostTensor.supports(dtype)) {
          throw new HttpError(400, "input '" + input + "' has unsupported dtype " + dtype);
        }
        long n = 1;
        for (long d : shape) {
          n *= d;
        }
        long bytes = n * HostTensor.elementSize(dtype);
        if (bytes > Integer.MAX_VALUE - 8) {
          throw new HttpError(413, "input '" + input + "' is too large");
        }
        buf = ByteBuffer.allocate((int) bytes).order(ByteOrder.nativeOrder());
      }

      void fill(JsonNode v, int depth) throws HttpError {
        if (depth < shape.length) {
          if (!v.isArray() || v.size() != shape[depth]) {
            throw new HttpError(
                400, "input '" + input + "': ragged or misshapen list at depth " + depth
                    + " (expected a list of " + shape[depth] + ", got "
                    + (v.isArray() ? "a list of " + v.size() : v.getNodeType().toString().toLowerCase())
                    + ")");
          }
          for (JsonNode c : v) {
            fill(c, depth + 1);
          }
          return;
        }
        put(v);
      }

      private void put(JsonNode v) throws HttpError {
        String want = ModelServer.dtypeName(dtype);
        if (v.isObject() && v.has("b64")) {
          throw new HttpError(
              400, "input '" + input + "': {\"b64\": ...} values are only for string inputs; this"
                  + " input is " + want);
        }
        switch (dtype) {
          case DT_BOOL -> {
            if (!v.isBoolean()) {
              throw wrong(v, want);
            }
            buf.put((byte) (v.booleanValue() ? 1 : 0));
          }
          case DT_FLOAT, DT_DOUBLE, DT_HALF, DT_BFLOAT16 -> {
            double d;
            if (v.isNumber()) {
              d = v.doubleValue();
            } else if (v.isTextual() && (v.asText().equals("NaN") || v.asText().endsWith("Infinity"))) {
              d = Double.parseDouble(v.asText());
            } else {
              throw wrong(v, want);
            }
            switch (dtype) {
              case DT_FLOAT -> buf.putFloat((float) d);
              case DT_DOUBLE -> buf.putDouble(d);
              case DT_HALF -> buf.putShort(floatToHalf((float) d));
              default -> buf.putShort((short) (Float.floatToIntBits((float) d) >>> 16));
            }
          }
          default -> {
            if (!v.isIntegralNumber() || !v.canConvertToLong()) {
              throw wrong(v, want);
            }
            long x = v.longValue();
            long[] range =
                switch (dtype) {
                  case DT_UINT8 -> new long[] {0, 255};
                  case DT_UINT16 -> new long[] {0, 65535};
                  case DT_INT32 -> new long[] {Integer.MIN_VALUE, Integer.MAX_VALUE};
                  default -> new long[] {Long.MIN_VALUE, Long.MAX_VALUE};
                };
            if (x < range[0] || x > range[1]) {
              throw new HttpError(
                  400, "input '" + input + "': " + x + " is out of range for " + want);
            }
            switch (dtype) {
              case DT_UINT8 -> buf.put((byte) x);
              case DT_UINT16 -> buf.putShort((short) x);
              case DT_INT32 -> buf.putInt((int) x);
              default -> buf.putLong(x);
            }
          }
        }
      }

      private HttpError wrong(JsonNode v, String want) {
        String got = v.isArray() ? "a list (too deep)" : v.toString();
        if (got.length() > 40) {
          got = got.substring(0, 40) + "...";
        }
        return new HttpError(400, "input '" + input + "' must hold " + want + " values, got " + got);
      }

      HostTensor done() {
        return new HostTensor(dtype, shape, buf.array());
      }
    }

    static short floatToHalf(float f) {
      int bits = Float.floatToIntBits(f);
      int sign = (bits >>> 16) & 0x8000;
      int exp = ((bits >>> 23) & 0xff) - 127 + 15;
      int mant = bits & 0x7fffff;
      if (((bits >>> 23) & 0xff) == 0xff) {
        return (short) (sign | 0x7c00 | (mant != 0 ? 0x200 : 0));
      }
      if (exp >= 0x1f) {
        return (short) (sign | 0x7c00);
      }
      if (exp <= 0) {
        if (exp < -10) {
          return (short) sign;
        }
        mant |= 0x800000;
        return (short) (sign | (mant >> (14 - exp)));
      }
      return (short) (sign | (exp << 10) | (mant >> 13));
    }

    /** The whole tensor as nested lists. */
    static void write(JsonGenerator g, HostTensor t) throws IOException {
      writeNested(g, t, t.shape(), 0, 0);
    }

    /** Row {@code r} (dim 0) as nested lists. */
    static void writeRow(JsonGenerator g, HostTensor t, long r) throws IOException {
      long[] s = t.shape();
      long rowSize = 1;
      for (int i = 1; i < s.length; i++) {
        rowSize *= s[i];
      }
      writeNested(g, t, s, 1, r * rowSize);
    }

    private static void writeNested(JsonGenerator g, HostTensor t, long[] s, int depth, long at)
        throws IOException {
      if (depth == s.length) {
        writeScalar(g, t, at);
        return;
      }
      long stride = 1;
      for (int i = depth + 1; i < s.length; i++) {
        stride *= s[i];
      }
      g.writeStartArray();
      for (long i = 0; i < s[depth]; i++) {
        writeNested(g, t, s, depth + 1, at + i * stride);
      }
      g.writeEndArray();
    }

    private static void writeScalar(JsonGenerator g, HostTensor t, long i) throws IOException {
      switch (t.dtype()) {
        case DT_BOOL -> g.writeBoolean(t.getLong(i) != 0);
        case DT_UINT8, DT_UINT16, DT_INT32, DT_INT64 -> g.writeNumber(t.getLong(i));
        case DT_FLOAT, DT_HALF, DT_BFLOAT16 -> {
          float f = (float) t.getDouble(i);
          if (Float.isFinite(f)) {
            g.writeNumber(f);
          } else {
            g.writeString(Float.isNaN(f) ? "NaN" : f > 0 ? "Infinity" : "-Infinity");
          }
        }
        default -> {
          double d = t.getDouble(i);
          if (Double.isFinite(d)) {
            g.writeNumber(d);
          } else {
            g.writeString(Double.isNaN(d) ? "NaN" : d > 0 ? "Infinity" : "-Infinity");
          }
        }
      }
    }
  }
}
