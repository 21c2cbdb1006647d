package dev.selfie.savedmodels.serving.rest;

import dev.selfie.savedmodels.serving.Signatures;
import dev.selfie.savedmodels.serving.HostTensor;
import dev.selfie.savedmodels.serving.HalfFloats;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import org.tensorflow.proto.DataType;

/**
 * The JSON side of TensorFlow Serving's REST API: nested JSON lists to and from {@link
 * HostTensor}s, checking dtype, value ranges and raggedness with messages naming the input.
 */
final class JsonTensorCodec {
  private JsonTensorCodec() {}

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
    final List<byte[]> strings;

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
      if (dtype == DataType.DT_STRING) {
        strings = new ArrayList<>();
        buf = null;
        return;
      }
      strings = null;
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
      String want = Signatures.dtypeName(dtype);
      if (dtype == DataType.DT_STRING) {
        strings.add(bytesOf(v));
        return;
      }
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
            case DT_HALF -> buf.putShort(HalfFloats.floatToFloat16((float) d));
            default -> buf.putShort(HalfFloats.floatToBfloat16((float) d));
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

    /** {@code {"b64": "..."}} (base64, standard or URL-safe alphabet) or a plain UTF-8 string. */
    private byte[] bytesOf(JsonNode v) throws HttpError {
      if (v.isTextual()) {
        return v.asText().getBytes(java.nio.charset.StandardCharsets.UTF_8);
      }
      if (v.isObject() && v.size() == 1 && v.get("b64") != null && v.get("b64").isTextual()) {
        String b64 = v.get("b64").asText();
        try {
          return b64.indexOf('-') >= 0 || b64.indexOf('_') >= 0
              ? java.util.Base64.getUrlDecoder().decode(b64)
              : java.util.Base64.getDecoder().decode(b64.replaceAll("\\s", ""));
        } catch (IllegalArgumentException e) {
          throw new HttpError(400, "input '" + input + "': {\"b64\": ...} is not valid base64: "
              + e.getMessage());
        }
      }
      throw wrong(v, "string ({\"b64\": \"...\"} or text)");
    }

    HostTensor done() {
      if (dtype == DataType.DT_STRING) {
        return HostTensor.ofStrings(shape, strings);
      }
      return new HostTensor(dtype, shape, buf.array());
    }
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
      case DT_STRING -> {
        g.writeStartObject();
        g.writeStringField("b64", java.util.Base64.getEncoder().encodeToString(t.strings()[(int) i]));
        g.writeEndObject();
      }
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
