package dev.selfie.savedmodels.serving;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.tensorflow.Tensor;
import org.tensorflow.proto.DataType;
import org.tensorflow.types.TFloat32;

class HostTensorTest {

  @Test
  void concatAndRowsAreInverse() {
    HostTensor a = HostTensor.ofFloats(new long[] {2, 3}, new float[] {1, 2, 3, 4, 5, 6});
    HostTensor b = HostTensor.ofFloats(new long[] {1, 3}, new float[] {7, 8, 9});
    HostTensor c = HostTensor.concat(List.of(a, b));
    assertArrayEquals(new long[] {3, 3}, c.shape());
    assertArrayEquals(new float[] {1, 2, 3, 4, 5, 6, 7, 8, 9}, c.floats());
    assertEquals(a, c.rows(0, 2));
    assertEquals(b, c.rows(2, 3));
    assertThrows(IndexOutOfBoundsException.class, () -> c.rows(2, 4));
    HostTensor other = HostTensor.ofFloats(new long[] {1, 2}, new float[] {1, 2});
    assertThrows(IllegalArgumentException.class, () -> HostTensor.concat(List.of(a, other)));
  }

  @Test
  void validatesByteCountAndDtype() {
    assertThrows(
        IllegalArgumentException.class,
        () -> new HostTensor(DataType.DT_FLOAT, new long[] {2}, new byte[4]));
    assertThrows(
        IllegalArgumentException.class,
        () -> new HostTensor(DataType.DT_STRING, new long[] {1}, new byte[8]));
  }

  @Test
  void nativeRoundTrip() {
    HostTensor h = HostTensor.ofFloats(new long[] {2, 2}, new float[] {0.5f, -1, 3, 1e-8f});
    try (Tensor t = h.toTensor()) {
      assertEquals(DataType.DT_FLOAT, t.dataType());
      assertEquals(-1f, ((TFloat32) t).getFloat(0, 1));
      assertEquals(h, HostTensor.of(t));
    }
    HostTensor u = HostTensor.ofUint8(new long[] {3}, new byte[] {0, (byte) 200, (byte) 255});
    assertEquals(200.0, u.getDouble(1));
    assertEquals(255L, u.getLong(2));
  }

  @Test
  void stringsConcatSplitAndRoundTripThroughNativeTensors() {
    byte[] png = {(byte) 0x89, 'P', 'N', 'G', 0, 0, 0, 0};
    HostTensor a = HostTensor.ofStrings(new long[] {2},
        List.of(png, "x".getBytes(java.nio.charset.StandardCharsets.UTF_8)));
    HostTensor b = HostTensor.ofStrings(new long[] {1}, List.of(new byte[0]));
    HostTensor c = HostTensor.concat(List.of(a, b));
    assertArrayEquals(new long[] {3}, c.shape());
    assertEquals(a, c.rows(0, 2));
    assertEquals(b, c.rows(2, 3));
    assertArrayEquals(png, c.rows(0, 1).strings()[0]);
    try (Tensor t = c.toTensor()) {
      assertEquals(DataType.DT_STRING, t.dataType());
      HostTensor back = HostTensor.of(t);
      assertEquals(c, back);
      assertArrayEquals(new byte[0], back.strings()[2]);
    }
    assertThrows(IllegalArgumentException.class,
        () -> new HostTensor(DataType.DT_STRING, new long[] {2}, a.rows(0, 1).data()));
  }

  @Test
  void halfPrecisionConversions() {
    for (float f : new float[] {0f, 1f, -2.5f, 65504f, 6.1035156e-5f, 5.9604645e-8f}) {
      assertEquals(f, HalfFloats.float16ToFloat(HalfFloats.floatToFloat16(f)), 0f, "" + f);
    }
    assertEquals(Float.POSITIVE_INFINITY,
        HalfFloats.float16ToFloat(HalfFloats.floatToFloat16(1e6f)));
    assertEquals(true,
        Float.isNaN(HalfFloats.float16ToFloat(HalfFloats.floatToFloat16(Float.NaN))));
    for (float f : new float[] {0f, 1f, -2.5f, 3.3895314e38f, Float.NEGATIVE_INFINITY}) {
      assertEquals(f, HalfFloats.bfloat16ToFloat(HalfFloats.floatToBfloat16(f)), 0f, "" + f);
    }
    assertEquals(1.0078125f, HalfFloats.bfloat16ToFloat(HalfFloats.floatToBfloat16(1.01f)), 0f,
        "bfloat16 keeps the upper 16 bits (truncation)");
  }
}
