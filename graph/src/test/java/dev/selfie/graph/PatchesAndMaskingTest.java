package dev.selfie.graph;

import static org.junit.jupiter.api.Assertions.*;

import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt64;

class PatchesAndMaskingTest {

  @Test
  void patchesAreCutRowMajor() {
    ModelConfig c = ModelConfig.preset("tiny").withData(2, 10); // 32x32x2, 8x8 patches, g=4
    int b = 2;
    int s = c.imageSize();
    int ch = c.channels();
    float[] data = new float[b * s * s * ch];
    for (int i = 0; i < b; i++) {
      for (int y = 0; y < s; y++) {
        for (int x = 0; x < s; x++) {
          for (int k = 0; k < ch; k++) {
            data[((i * s + y) * s + x) * ch + k] = i * 100000 + y * 1000 + x * 10 + k;
          }
        }
      }
    }
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      var images = TestSupport.images(tf, c);
      var patches = Selfie.cutPatches(tf, c, images);
      assertArrayEquals(new long[] {-1, 16, 8, 8, 2}, patches.shape().asArray());
      try (Session sess = new Session(g);
          TFloat32 x = TFloat32.tensorOf(Shape.of(b, s, s, ch), DataBuffers.of(data));
          Result r = sess.runner().feed(images, x).fetch(patches).run()) {
        TFloat32 out = (TFloat32) r.get(0);
        int p = c.patchSize();
        int grid = c.grid();
        for (int i = 0; i < b; i++) {
          for (int l = 0; l < 16; l++) {
            for (int py = 0; py < p; py += 3) {
              for (int px = 0; px < p; px += 5) {
                int y = (l / grid) * p + py;
                int xx = (l % grid) * p + px;
                assertEquals(i * 100000 + y * 1000 + xx * 10 + 1,
                    out.getFloat(i, l, py, px, 1), "image " + i + " patch " + l);
              }
            }
          }
        }
      }
    }
  }

  @Test
  void maskingIsPerImageExactAndSeeded() {
    int b = 8;
    int n = 16;
    int m = 4;
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Placeholder<TInt64> seed = TestSupport.seed(tf);
      Selfie.Mask mask = Selfie.randomMask(tf, tf.constant(b), n, m, seed);
      try (Session s = new Session(g)) {
        int[][] a = run(s, mask, seed, 3, 10);
        int[][] again = run(s, mask, seed, 3, 10);
        int[][] other = run(s, mask, seed, 3, 11);
        assertArrayEquals(a[0], again[0]);
        assertArrayEquals(a[1], again[1]);
        assertFalse(Arrays.equals(a[0], other[0]), "a new step must draw new masks");
        Set<String> distinct = new HashSet<>();
        for (int i = 0; i < b; i++) {
          int[] masked = Arrays.copyOfRange(a[0], i * m, (i + 1) * m);
          int[] context = Arrays.copyOfRange(a[1], i * (n - m), (i + 1) * (n - m));
          int[] all = new int[n];
          System.arraycopy(masked, 0, all, 0, m);
          System.arraycopy(context, 0, all, m, n - m);
          Arrays.sort(all);
          for (int k = 0; k < n; k++) {
            assertEquals(k, all[k], "masked + context must be a permutation of 0..n-1");
          }
          int[] sorted = masked.clone();
          Arrays.sort(sorted);
          distinct.add(Arrays.toString(sorted));
        }
        assertTrue(distinct.size() > b / 2, "masks must differ across images: " + distinct);
      }
    }
  }

  private static int[][] run(Session s, Selfie.Mask mask, Placeholder<TInt64> seed, long a,
      long step) {
    try (TInt64 sd = TestSupport.seedTensor(a, step);
        Result r = s.runner().feed(seed, sd).fetch(mask.masked()).fetch(mask.context()).run()) {
      assertArrayEquals(new long[] {8, 4}, r.get(0).shape().asArray());
      assertArrayEquals(new long[] {8, 12}, r.get(1).shape().asArray());
      return new int[][] {TestSupport.ints(r.get(0)), TestSupport.ints(r.get(1))};
    }
  }
}
