package dev.selfie.savedmodels.serving;

/**
 * The one place where 16-bit floats are converted to and from {@code float}: IEEE 754 binary16
 * (TensorFlow's {@code DT_HALF}, float16) and bfloat16 ({@code DT_BFLOAT16}, the upper 16 bits of
 * a float32). Used by {@link HostTensor} (reading values) and {@code rest.JsonTensorCodec} (JSON
 * numbers into tensors); {@code grpc.TensorProtoCodec} passes the raw bits of {@code half_val} through
 * without converting.
 */
public final class HalfFloats {
  private HalfFloats() {}

  /** IEEE 754 binary16 bits to float, exact (Float.float16ToFloat is Java 20+). */
  public static float float16ToFloat(short h) {
    int bits = h & 0xffff;
    int sign = (bits & 0x8000) << 16;
    int exp = (bits >>> 10) & 0x1f;
    int mant = bits & 0x3ff;
    if (exp == 0x1f) {
      return Float.intBitsToFloat(sign | 0x7f800000 | (mant << 13));
    }
    if (exp == 0) {
      float v = mant * 0x1p-24f;
      return sign != 0 ? -v : v;
    }
    return Float.intBitsToFloat(sign | ((exp + 112) << 23) | (mant << 13));
  }

  /**
   * Float to IEEE 754 binary16 bits: the mantissa truncated (not rounded), overflow to infinity,
   * NaN kept (quiet), values below the smallest subnormal to signed zero.
   */
  public static short floatToFloat16(float f) {
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

  /** bfloat16 bits to float, exact. */
  public static float bfloat16ToFloat(short b) {
    return Float.intBitsToFloat((b & 0xffff) << 16);
  }

  /** Float to bfloat16 bits: the upper 16 bits of the float32 (truncated, not rounded). */
  public static short floatToBfloat16(float f) {
    return (short) (Float.floatToIntBits(f) >>> 16);
  }
}
