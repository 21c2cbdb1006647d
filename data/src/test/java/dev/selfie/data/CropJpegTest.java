package dev.selfie.data;

import static org.junit.jupiter.api.Assertions.*;

import dev.selfie.data.pipeline.Preprocess;
import java.awt.image.BufferedImage;
import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.NdArrays;
import org.tensorflow.op.Ops;
import org.tensorflow.op.image.DecodeImage;
import org.tensorflow.types.TInt64;
import org.tensorflow.types.TString;
import org.tensorflow.types.TUint8;

/** The JPEG-only training crop (decode the window only) equals decode-then-crop for the same seed. */
class CropJpegTest {

  @Test
  void cropOfTheJpegEqualsTheCropOfTheDecodedImage() {
    BufferedImage img = new BufferedImage(120, 90, BufferedImage.TYPE_INT_RGB);
    for (int y = 0; y < 90; y++) {
      for (int x = 0; x < 120; x++) {
        img.setRGB(x, y, ((x * 2) << 16) | ((y * 2) << 8) | ((x + y) & 0xff));
      }
    }
    byte[] jpeg = ImageTestData.encode(img, "jpg");
    try (Graph g = new Graph(); Session s = new Session(g);
        TString t = TString.tensorOfBytes(NdArrays.scalarOfObject(jpeg))) {
      Ops tf = Ops.create(g);
      Operand<TString> bytes = tf.constantOf(t);
      byte[] first = null;
      double spread = 0;
      for (long seed = 0; seed < 4; seed++) {
        Operand<TInt64> key = tf.constant(new long[] {seed, 99});
        Operand<TUint8> a = Preprocess.randomResizedCropJpeg(tf, bytes, key, 32);
        Operand<TUint8> decoded = tf.image.decodeImage(bytes, TUint8.class, DecodeImage.channels(3L), DecodeImage.expandAnimations(false));
        Operand<TUint8> b = Preprocess.randomResizedCrop(tf, tf.ensureShape(decoded, org.tensorflow.ndarray.Shape.of(-1, -1, 3)), key, 32);
        try (Result r = s.runner().fetch(a).fetch(b).run()) {
          byte[] x = new byte[32 * 32 * 3];
          byte[] y = new byte[32 * 32 * 3];
          ((TUint8) r.get(0)).asRawTensor().data().read(x);
          ((TUint8) r.get(1)).asRawTensor().data().read(y);
          double diff = 0;
          for (int i = 0; i < x.length; i++) {
            diff += Math.abs((x[i] & 0xff) - (y[i] & 0xff));
          }
          assertTrue(diff / x.length < 2.0, "seed " + seed + ": mean abs difference " + diff / x.length);
          if (first == null) {
            first = x;
          } else {
            double d = 0;
            for (int i = 0; i < x.length; i++) {
              d += Math.abs((x[i] & 0xff) - (first[i] & 0xff));
            }
            spread = Math.max(spread, d / x.length);
          }
        }
      }
      assertTrue(spread > 5, "different seeds give different crops, mean abs difference " + spread);
    }
  }
}
