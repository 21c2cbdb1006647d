package dev.selfie.data;

import static org.junit.jupiter.api.Assertions.*;

import dev.selfie.data.formats.Cifar10;
import dev.selfie.data.formats.FashionMnist;
import dev.selfie.data.pipeline.Preprocess;
import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TUint8;

class PreprocessTest {

  @Test
  void fromUint8PadsNativeImagesAndNormalises() {
    try (Graph g = new Graph(); Session s = new Session(g)) {
      Ops tf = Ops.create(g);
      // The SavedModel's input: native uint8 [N, 28, 28, 1], N unknown.
      Placeholder<TUint8> in = tf.placeholder(TUint8.class, Placeholder.shape(Shape.of(-1, 28, 28, 1)));
      var out = Preprocess.fromUint8(tf, in, FashionMnist.SPEC);
      assertArrayEquals(new long[] {-1, 32, 32, 1}, out.shape().asArray());
      byte[] px = new byte[2 * 28 * 28];
      px[28 * 28 + 5 * 28 + 6] = (byte) 200; // image 1, (5, 6)
      try (TUint8 t = TUint8.tensorOf(Shape.of(2, 28, 28, 1), org.tensorflow.ndarray.buffer.DataBuffers.of(px));
          Result r = s.runner().feed(in, t).fetch(out).run()) {
        TFloat32 y = (TFloat32) r.get(0);
        assertEquals(Shape.of(2, 32, 32, 1), y.shape());
        float m = FashionMnist.SPEC.mean()[0];
        float sd = FashionMnist.SPEC.std()[0];
        assertEquals((200 / 255f - m) / sd, y.getFloat(1, 7, 8, 0), 1e-5f);
        assertEquals((0 - m) / sd, y.getFloat(1, 0, 0, 0), 1e-5f);
        assertEquals((0 - m) / sd, y.getFloat(0, 7, 8, 0), 1e-5f);
      }
    }
  }

  @Test
  void rejectsImagesLargerThanTheModelInput() {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Placeholder<TUint8> in = tf.placeholder(TUint8.class, Placeholder.shape(Shape.of(-1, 40, 40, 3)));
      IllegalArgumentException e =
          assertThrows(IllegalArgumentException.class, () -> Preprocess.fromUint8(tf, in, Cifar10.SPEC));
      assertTrue(e.getMessage().contains("larger than the model input 32"), e.getMessage());
    }
  }
}
