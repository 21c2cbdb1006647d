package dev.selfie.savedmodels.serving;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.tensorflow.Tensor;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.proto.DataType;
import org.tensorflow.types.TBfloat16;
import org.tensorflow.types.TBool;
import org.tensorflow.types.TFloat16;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TFloat64;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TInt64;
import org.tensorflow.types.TUint16;
import org.tensorflow.types.TUint8;
import org.tensorflow.types.family.TType;

/**
 * A dense tensor held in Java memory: dtype, shape and the raw row-major bytes in TensorFlow's
 * layout (native byte order). Immutable by convention (the arrays are not copied on access: do
 * not modify them). Unlike a {@link Tensor} it owns no native memory, so it can be queued,
 * concatenated along the batch dimension and split again without leaks.
 *
 * <p>Fixed-size dtypes: uint8, uint16, int32, int64, float16, bfloat16, float32, float64, bool;
 * and string (byte strings, e.g. encoded images): each element is stored as a 4-byte big-endian
 * length followed by its bytes, so that rows can be concatenated and split like fixed-size ones.
 */
public record HostTensor(DataType dtype, long[] shape, byte[] data) {

  private record TypeInfo(Class<? extends TType> type, int bytes) {}

  private static final Map<DataType, TypeInfo> TYPES =
      Map.of(
          DataType.DT_UINT8, new TypeInfo(TUint8.class, 1),
          DataType.DT_BOOL, new TypeInfo(TBool.class, 1),
          DataType.DT_UINT16, new TypeInfo(TUint16.class, 2),
          DataType.DT_HALF, new TypeInfo(TFloat16.class, 2),
          DataType.DT_BFLOAT16, new TypeInfo(TBfloat16.class, 2),
          DataType.DT_INT32, new TypeInfo(TInt32.class, 4),
          DataType.DT_FLOAT, new TypeInfo(TFloat32.class, 4),
          DataType.DT_INT64, new TypeInfo(TInt64.class, 8),
          DataType.DT_DOUBLE, new TypeInfo(TFloat64.class, 8));

  /**
   * @throws IllegalArgumentException on an unsupported dtype, a negative dimension, or a byte
   *     count that does not match {@code elementSize(dtype) * product(shape)}
   */
  public HostTensor {
    long n = 1;
    for (long d : shape) {
      if (d < 0) {
        throw new IllegalArgumentException("negative dimension in shape " + Arrays.toString(shape));
      }
      n *= d;
    }
    if (dtype == DataType.DT_STRING) {
      if (stringOffsets(data, n) == null) {
        throw new IllegalArgumentException("string data does not hold " + n
            + " length-prefixed elements");
      }
    } else if (!TYPES.containsKey(dtype)) {
      throw new IllegalArgumentException("unsupported dtype " + dtype + "; supported: "
          + TYPES.keySet() + " and DT_STRING");
    } else if (n * TYPES.get(dtype).bytes() != data.length) {
      throw new IllegalArgumentException(
          "shape " + Arrays.toString(shape) + " of " + dtype + " needs "
              + n * TYPES.get(dtype).bytes() + " bytes, got " + data.length);
    }
  }

  /** Whether {@code dtype} can be held by a HostTensor. */
  public static boolean supports(DataType dtype) {
    return TYPES.containsKey(dtype) || dtype == DataType.DT_STRING;
  }

  /** A string tensor of the given shape from its elements (row-major). */
  public static HostTensor ofStrings(long[] shape, List<byte[]> values) {
    int bytes = 0;
    for (byte[] v : values) {
      bytes = Math.addExact(bytes, 4 + v.length);
    }
    ByteBuffer b = ByteBuffer.allocate(bytes); // big-endian lengths
    for (byte[] v : values) {
      b.putInt(v.length).put(v);
    }
    return new HostTensor(DataType.DT_STRING, shape, b.array());
  }

  /** The elements of a string tensor, row-major. */
  public byte[][] strings() {
    require(DataType.DT_STRING);
    int[] at = stringOffsets(data, size());
    byte[][] out = new byte[at.length][];
    for (int i = 0; i < at.length; i++) {
      int len = ByteBuffer.wrap(data, at[i], 4).getInt();
      out[i] = Arrays.copyOfRange(data, at[i] + 4, at[i] + 4 + len);
    }
    return out;
  }

  /** Where each of {@code n} length-prefixed elements starts; null if the data does not match. */
  private static int[] stringOffsets(byte[] data, long n) {
    if (n > data.length / 4) {
      return n == 0 && data.length == 0 ? new int[0] : null;
    }
    int[] at = new int[(int) n];
    int p = 0;
    for (int i = 0; i < n; i++) {
      if (data.length - p < 4) {
        return null;
      }
      int len = ByteBuffer.wrap(data, p, 4).getInt();
      if (len < 0 || len > data.length - p - 4) {
        return null;
      }
      at[i] = p;
      p += 4 + len;
    }
    return p == data.length ? at : null;
  }

  /** Bytes per element of a supported dtype. */
  public static int elementSize(DataType dtype) {
    TypeInfo t = TYPES.get(dtype);
    if (t == null) {
      throw new IllegalArgumentException("unsupported dtype " + dtype);
    }
    return t.bytes();
  }

  /** Copies a native tensor's contents (the tensor stays open; the caller closes it). */
  public static HostTensor of(Tensor t) {
    if (t.dataType() == DataType.DT_STRING) {
      List<byte[]> values = new java.util.ArrayList<>();
      ((org.tensorflow.types.TString) t).asBytes().scalars().forEach(v -> values.add(v.getObject()));
      return ofStrings(t.shape().asArray(), values);
    }
    byte[] bytes = new byte[Math.toIntExact(t.numBytes())];
    t.asRawTensor().data().read(bytes);
    return new HostTensor(t.dataType(), t.shape().asArray(), bytes);
  }

  /** uint8 tensor of the given shape from row-major bytes. */
  public static HostTensor ofUint8(long[] shape, byte[] values) {
    return new HostTensor(DataType.DT_UINT8, shape, values.clone());
  }

  /** float32 tensor of the given shape from row-major values. */
  public static HostTensor ofFloats(long[] shape, float[] values) {
    ByteBuffer b = buffer(values.length * 4);
    b.asFloatBuffer().put(values);
    return new HostTensor(DataType.DT_FLOAT, shape, b.array());
  }

  /** A new native tensor with a copy of the data: the caller must close it. */
  public Tensor toTensor() {
    if (dtype == DataType.DT_STRING) {
      return org.tensorflow.types.TString.tensorOfBytes(Shape.of(shape),
          DataBuffers.ofObjects(strings()));
    }
    return Tensor.of(TYPES.get(dtype).type(), Shape.of(shape), DataBuffers.of(data, true, false));
  }

  /** Number of elements. */
  public long size() {
    long n = 1;
    for (long d : shape) {
      n *= d;
    }
    return n;
  }

  /** First dimension (the batch size of a batch-major tensor). */
  public long rows() {
    if (shape.length == 0) {
      throw new IllegalStateException("a scalar has no batch dimension");
    }
    return shape[0];
  }

  /** Values as floats (float32 only). */
  public float[] floats() {
    require(DataType.DT_FLOAT);
    float[] out = new float[data.length / 4];
    view().asFloatBuffer().get(out);
    return out;
  }

  /** Values as doubles (float64 only). */
  public double[] doubles() {
    require(DataType.DT_DOUBLE);
    double[] out = new double[data.length / 8];
    view().asDoubleBuffer().get(out);
    return out;
  }

  /** Values as ints (int32 only). */
  public int[] ints() {
    require(DataType.DT_INT32);
    int[] out = new int[data.length / 4];
    view().asIntBuffer().get(out);
    return out;
  }

  /** Values as longs (int64 only). */
  public long[] longs() {
    require(DataType.DT_INT64);
    long[] out = new long[data.length / 8];
    view().asLongBuffer().get(out);
    return out;
  }

  /**
   * Element {@code i} (row-major flat index) as a double, for every supported dtype (uint8 and
   * uint16 unsigned, bool as 0/1, float16/bfloat16 widened).
   */
  public double getDouble(long i) {
    ByteBuffer b = view();
    int k = Math.toIntExact(i * elementSize(dtype));
    return switch (dtype) {
      case DT_UINT8 -> b.get(k) & 0xff;
      case DT_BOOL -> b.get(k) != 0 ? 1 : 0;
      case DT_UINT16 -> b.getShort(k) & 0xffff;
      case DT_HALF -> HalfFloats.float16ToFloat(b.getShort(k));
      case DT_BFLOAT16 -> HalfFloats.bfloat16ToFloat(b.getShort(k));
      case DT_INT32 -> b.getInt(k);
      case DT_FLOAT -> b.getFloat(k);
      case DT_INT64 -> b.getLong(k);
      case DT_DOUBLE -> b.getDouble(k);
      default -> throw new IllegalStateException("unsupported dtype " + dtype);
    };
  }

  /** Element {@code i} as a long (integer and bool dtypes). */
  public long getLong(long i) {
    ByteBuffer b = view();
    int k = Math.toIntExact(i * elementSize(dtype));
    return switch (dtype) {
      case DT_UINT8 -> b.get(k) & 0xff;
      case DT_BOOL -> b.get(k) != 0 ? 1 : 0;
      case DT_UINT16 -> b.getShort(k) & 0xffff;
      case DT_INT32 -> b.getInt(k);
      case DT_INT64 -> b.getLong(k);
      default -> throw new IllegalStateException(dtype + " is not an integer dtype");
    };
  }

  /** Rows {@code [from, to)} along the first dimension. */
  public HostTensor rows(long from, long to) {
    long n = rows();
    if (from < 0 || to < from || to > n) {
      throw new IndexOutOfBoundsException("rows [" + from + ", " + to + ") of " + n);
    }
    long[] s = shape.clone();
    s[0] = to - from;
    if (dtype == DataType.DT_STRING) {
      long per = n == 0 ? 0 : size() / n;
      int[] at = stringOffsets(data, size());
      int a = from * per == at.length ? data.length : at[(int) (from * per)];
      int b = to * per == at.length ? data.length : at[(int) (to * per)];
      return new HostTensor(dtype, s, Arrays.copyOfRange(data, a, b));
    }
    int rowBytes = Math.toIntExact(data.length / Math.max(1, n));
    byte[] d = n == 0 ? new byte[0] : Arrays.copyOfRange(data, (int) (from * rowBytes), (int) (to * rowBytes));
    return new HostTensor(dtype, s, d);
  }

  /**
   * Concatenation along the first dimension.
   *
   * @throws IllegalArgumentException if dtypes or the dimensions after the first differ
   */
  public static HostTensor concat(List<HostTensor> parts) {
    if (parts.isEmpty()) {
      throw new IllegalArgumentException("nothing to concatenate");
    }
    HostTensor first = parts.get(0);
    if (parts.size() == 1) {
      return first;
    }
    long rows = 0;
    int bytes = 0;
    for (HostTensor p : parts) {
      if (p.dtype != first.dtype || !sameInnerShape(p.shape, first.shape)) {
        throw new IllegalArgumentException(
            "cannot concatenate " + p.dtype + Arrays.toString(p.shape) + " with "
                + first.dtype + Arrays.toString(first.shape));
      }
      rows += p.rows();
      bytes += p.data.length;
    }
    byte[] out = new byte[bytes];
    int at = 0;
    for (HostTensor p : parts) {
      System.arraycopy(p.data, 0, out, at, p.data.length);
      at += p.data.length;
    }
    long[] s = first.shape.clone();
    s[0] = rows;
    return new HostTensor(first.dtype, s, out);
  }

  /** Whether two shapes agree on every dimension after the first (and in rank). */
  public static boolean sameInnerShape(long[] a, long[] b) {
    return a.length == b.length
        && a.length > 0
        && Arrays.equals(a, 1, a.length, b, 1, b.length);
  }

  private void require(DataType t) {
    if (dtype != t) {
      throw new IllegalStateException("tensor is " + dtype + ", not " + t);
    }
  }

  private ByteBuffer view() {
    return ByteBuffer.wrap(data).order(ByteOrder.nativeOrder());
  }

  private static ByteBuffer buffer(int bytes) {
    return ByteBuffer.allocate(bytes).order(ByteOrder.nativeOrder());
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof HostTensor h
        && h.dtype == dtype
        && Arrays.equals(h.shape, shape)
        && Arrays.equals(h.data, data);
  }

  @Override
  public int hashCode() {
    return 31 * (31 * dtype.hashCode() + Arrays.hashCode(shape)) + Arrays.hashCode(data);
  }

  @Override
  public String toString() {
    return "HostTensor[" + dtype + " " + Arrays.toString(shape) + "]";
  }
}
