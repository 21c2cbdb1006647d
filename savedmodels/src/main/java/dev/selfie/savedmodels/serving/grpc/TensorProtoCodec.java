package dev.selfie.savedmodels.serving.grpc;

import dev.selfie.savedmodels.serving.Signatures;
import dev.selfie.savedmodels.serving.HostTensor;
import com.google.protobuf.ByteString;
import io.grpc.Status;
import io.grpc.StatusException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import org.tensorflow.proto.DataType;
import org.tensorflow.proto.TensorProto;
import org.tensorflow.proto.TensorShapeProto;

/**
 * The gRPC side of TensorFlow Serving's API: {@link TensorProto}s to and from {@link HostTensor}s.
 *
 * <p>Requests may carry their values either as {@code tensor_content} (raw bytes, TensorFlow's
 * layout: what {@code tf.make_tensor_proto} writes for numeric arrays) or in the typed field of
 * the dtype ({@code float_val}, {@code int_val} for int32/uint8/uint16, {@code int64_val},
 * {@code double_val}, {@code bool_val}, {@code half_val} for float16/bfloat16 bits,
 * {@code string_val}). A typed field holds every element, or exactly one (repeated to fill the
 * shape, as TensorFlow does). Anything else (a count that fits neither, values out of the
 * dtype's range, an unknown rank, an unsupported dtype) is {@code INVALID_ARGUMENT} naming the
 * input. Answers use the typed fields, as TF Serving does, so clients reading {@code float_val}
 * directly work.
 */
final class TensorProtoCodec {
  private TensorProtoCodec() {}

  /**
   * The input {@code input} of a request as a host tensor.
   *
   * @param maxBytes most bytes the decoded tensor may take (a single value can be declared to
   *     fill a huge shape: this bounds what one request can make the server allocate)
   */
  static HostTensor toHost(String input, TensorProto p, long maxBytes) throws StatusException {
    DataType dtype = p.getDtype();
    if (!HostTensor.supports(dtype)) {
      throw bad("input '" + input + "' has unsupported dtype " + dtype.name() + "; supported: "
          + "float, double, half, bfloat16, int32, int64, uint8, uint16, bool, string");
    }
    TensorShapeProto sp = p.getTensorShape();
    if (sp.getUnknownRank()) {
      throw bad("input '" + input + "' has an unknown rank: give its tensor_shape");
    }
    long[] shape = sp.getDimList().stream().mapToLong(TensorShapeProto.Dim::getSize).toArray();
    long n = 1;
    for (long d : shape) {
      if (d < 0) {
        throw bad("input '" + input + "' has a negative dimension in shape "
            + Signatures.shapeString(shape));
      }
      n = d == 0 || n == 0 ? 0 : n <= maxBytes / d ? n * d : maxBytes + 1;
    }
    long bytes = dtype != DataType.DT_STRING ? n * HostTensor.elementSize(dtype)
        : p.getStringValCount() == 1 ? n * (4L + p.getStringVal(0).size())
        : p.getSerializedSize();
    if (n > maxBytes || bytes > maxBytes) {
      throw bad("input '" + input + "' of shape " + Signatures.shapeString(shape)
          + " exceeds the limit of " + maxBytes + " bytes (--max-body-mb)");
    }
    if (dtype == DataType.DT_STRING) {
      if (!p.getTensorContent().isEmpty()) {
        throw bad("input '" + input + "' is a string tensor: its values go in string_val, not"
            + " tensor_content");
      }
      int count = p.getStringValCount();
      checkCount(input, count, n, shape);
      List<byte[]> values = new ArrayList<>((int) n);
      for (long i = 0; i < n; i++) {
        values.add(p.getStringVal(count == 1 ? 0 : (int) i).toByteArray());
      }
      return HostTensor.ofStrings(shape, values);
    }
    int size = HostTensor.elementSize(dtype);
    if (!p.getTensorContent().isEmpty()) {
      long want = n * size;
      if (p.getTensorContent().size() != want) {
        throw bad("input '" + input + "': tensor_content holds " + p.getTensorContent().size()
            + " bytes, shape " + Signatures.shapeString(shape) + " of "
            + Signatures.dtypeName(dtype) + " needs " + want);
      }
      return new HostTensor(dtype, shape, p.getTensorContent().toByteArray());
    }
    ByteBuffer out = ByteBuffer.allocate((int) (n * size)).order(ByteOrder.nativeOrder());
    switch (dtype) {
      case DT_FLOAT -> {
        int count = p.getFloatValCount();
        checkCount(input, count, n, shape);
        for (long i = 0; i < n; i++) {
          out.putFloat(p.getFloatVal(count == 1 ? 0 : (int) i));
        }
      }
      case DT_DOUBLE -> {
        int count = p.getDoubleValCount();
        checkCount(input, count, n, shape);
        for (long i = 0; i < n; i++) {
          out.putDouble(p.getDoubleVal(count == 1 ? 0 : (int) i));
        }
      }
      case DT_INT64 -> {
        int count = p.getInt64ValCount();
        checkCount(input, count, n, shape);
        for (long i = 0; i < n; i++) {
          out.putLong(p.getInt64Val(count == 1 ? 0 : (int) i));
        }
      }
      case DT_BOOL -> {
        int count = p.getBoolValCount();
        checkCount(input, count, n, shape);
        for (long i = 0; i < n; i++) {
          out.put((byte) (p.getBoolVal(count == 1 ? 0 : (int) i) ? 1 : 0));
        }
      }
      case DT_INT32, DT_UINT8, DT_UINT16 -> {
        int count = p.getIntValCount();
        checkCount(input, count, n, shape);
        long lo = dtype == DataType.DT_INT32 ? Integer.MIN_VALUE : 0;
        long hi = dtype == DataType.DT_UINT8 ? 255 : dtype == DataType.DT_UINT16 ? 65535
            : Integer.MAX_VALUE;
        for (int i = 0; i < count; i++) {
          int v = p.getIntVal(i);
          if (v < lo || v > hi) {
            throw bad("input '" + input + "': value " + v + " at index " + i + " is out of range"
                + " for " + Signatures.dtypeName(dtype) + " [" + lo + ", " + hi + "]");
          }
        }
        for (long i = 0; i < n; i++) {
          int v = p.getIntVal(count == 1 ? 0 : (int) i);
          switch (dtype) {
            case DT_UINT8 -> out.put((byte) v);
            case DT_UINT16 -> out.putShort((short) v);
            default -> out.putInt(v);
          }
        }
      }
      case DT_HALF, DT_BFLOAT16 -> {
        int count = p.getHalfValCount();
        checkCount(input, count, n, shape);
        for (long i = 0; i < n; i++) {
          out.putShort((short) p.getHalfVal(count == 1 ? 0 : (int) i));
        }
      }
      default -> throw bad("input '" + input + "' has unsupported dtype " + dtype.name());
    }
    return new HostTensor(dtype, shape, out.array());
  }

  private static void checkCount(String input, int count, long n, long[] shape)
      throws StatusException {
    if (count != n && !(count == 1 && n > 0)) {
      throw bad("input '" + input + "' holds " + count + " values, shape "
          + Signatures.shapeString(shape) + " has " + n + " elements (give all of them, or one"
          + " to fill the shape)");
    }
  }

  /** An output as TF Serving answers it: dtype, shape and the typed value field. */
  static TensorProto toProto(HostTensor t) {
    TensorProto.Builder b = TensorProto.newBuilder().setDtype(t.dtype());
    TensorShapeProto.Builder s = b.getTensorShapeBuilder();
    for (long d : t.shape()) {
      s.addDimBuilder().setSize(d);
    }
    long n = t.size();
    switch (t.dtype()) {
      case DT_FLOAT -> {
        for (float v : t.floats()) {
          b.addFloatVal(v);
        }
      }
      case DT_DOUBLE -> {
        for (double v : t.doubles()) {
          b.addDoubleVal(v);
        }
      }
      case DT_INT64 -> {
        for (long v : t.longs()) {
          b.addInt64Val(v);
        }
      }
      case DT_INT32, DT_UINT8, DT_UINT16 -> {
        for (long i = 0; i < n; i++) {
          b.addIntVal((int) t.getLong(i));
        }
      }
      case DT_BOOL -> {
        for (long i = 0; i < n; i++) {
          b.addBoolVal(t.getLong(i) != 0);
        }
      }
      case DT_HALF, DT_BFLOAT16 -> {
        ByteBuffer raw = ByteBuffer.wrap(t.data()).order(ByteOrder.nativeOrder());
        for (long i = 0; i < n; i++) {
          b.addHalfVal(raw.getShort((int) (2 * i)) & 0xffff);
        }
      }
      case DT_STRING -> {
        for (byte[] v : t.strings()) {
          b.addStringVal(ByteString.copyFrom(v));
        }
      }
      default -> b.setTensorContent(ByteString.copyFrom(t.data()));
    }
    return b.build();
  }

  private static StatusException bad(String message) {
    return Status.INVALID_ARGUMENT.withDescription(message).asException();
  }
}
