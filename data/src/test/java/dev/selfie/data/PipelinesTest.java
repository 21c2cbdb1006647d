package dev.selfie.data;

import static org.junit.jupiter.api.Assertions.*;

import dev.selfie.data.formats.Cifar10;
import dev.selfie.data.formats.FashionMnist;
import dev.selfie.data.pipeline.Pipeline;
import dev.selfie.data.pipeline.PipelineOptions;
import dev.selfie.data.pipeline.Pipelines;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tensorflow.Graph;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.exceptions.TFOutOfRangeException;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

class PipelinesTest {

  @TempDir Path tmp;

  /** One example pulled from a pipeline: its normalised pixels [S*S*C] and label. */
  record Ex(float[] pixels, int label) {
    boolean same(Ex o) {
      return label == o.label && Arrays.equals(pixels, o.pixels);
    }
  }

  /** Runs {@code batches} batches (or until the end) and returns the examples in order. */
  static List<Ex> run(ImageSource src, Split split, PipelineOptions o, int batches) {
    List<Ex> out = new ArrayList<>();
    try (Graph g = new Graph(); Session s = new Session(g)) {
      Ops tf = Ops.create(g);
      Pipeline p = Pipelines.build(tf, src, split, o);
      s.initialize();
      for (int b = 0; b < batches; b++) {
        try (Result r = s.runner().fetch(p.images()).fetch(p.labels()).run()) {
          TFloat32 im = (TFloat32) r.get(0);
          TInt32 lb = (TInt32) r.get(1);
          int n = (int) lb.shape().get(0);
          int per = (int) (im.shape().size() / n);
          float[] all = new float[(int) im.shape().size()];
          im.asRawTensor().data().asFloats().read(all);
          for (int i = 0; i < n; i++) {
            out.add(new Ex(Arrays.copyOfRange(all, i * per, (i + 1) * per), lb.getInt(i)));
          }
        } catch (TFOutOfRangeException end) {
          break;
        }
      }
    }
    return out;
  }

  static float norm(int v, DatasetSpec spec, int c) {
    return (float) (v * (1.0 / (255.0 * spec.std()[c])) + (-spec.mean()[c] / spec.std()[c]));
  }

  @Test
  void cifarEvalPipelineReturnsExactlyTheFilePixelsAndLabels() throws Exception {
    ImageSource src = Cifar10.openDir(TestData.cifar(tmp, 12, 7));
    assertEquals(12, src.size(Split.TRAIN));
    assertEquals(7, src.size(Split.TEST));
    List<Ex> got = run(src, Split.TEST, PipelineOptions.eval(3), 100);
    assertEquals(7, got.size(), "one epoch, last partial batch kept");
    DatasetSpec spec = src.spec();
    for (int i = 0; i < 7; i++) {
      assertEquals(TestData.cifarLabel(1, i), got.get(i).label());
      float[] px = got.get(i).pixels();
      for (int y = 0; y < 32; y++) {
        for (int x = 0; x < 32; x++) {
          for (int c = 0; c < 3; c++) {
            float want = norm(TestData.cifarPixel(1, i, y, x, c), spec, c);
            assertEquals(want, px[(y * 32 + x) * 3 + c], 1e-5f, "image " + i + " at " + y + "," + x + "," + c);
          }
        }
      }
    }
    // Train split spans the five batch files in order.
    List<Ex> train = run(src, Split.TRAIN, PipelineOptions.eval(5), 100);
    assertEquals(12, train.size());
    for (int i = 0; i < 12; i++) {
      assertEquals(TestData.cifarLabel(0, i), train.get(i).label());
      assertEquals(norm(TestData.cifarPixel(0, i, 3, 4, 2), spec, 2), train.get(i).pixels()[(3 * 32 + 4) * 3 + 2], 1e-5f);
    }
  }

  @Test
  void fashionEvalPipelinePadsTo32AndNormalises() throws Exception {
    ImageSource src = FashionMnist.openDir(TestData.fashion(tmp, 10, 6));
    List<Ex> got = run(src, Split.TEST, PipelineOptions.eval(4), 100);
    assertEquals(6, got.size());
    DatasetSpec spec = src.spec();
    for (int i = 0; i < 6; i++) {
      assertEquals(TestData.idxLabels(1, 6)[i], got.get(i).label());
      float[] px = got.get(i).pixels();
      assertEquals(32 * 32, px.length);
      for (int y = 0; y < 32; y++) {
        for (int x = 0; x < 32; x++) {
          boolean inside = y >= 2 && y < 30 && x >= 2 && x < 30;
          int v = inside ? TestData.idxPixel(1, i, y - 2, x - 2) : 0;
          assertEquals(norm(v, spec, 0), px[y * 32 + x], 1e-5f, "image " + i + " at " + y + "," + x);
        }
      }
    }
  }

  @Test
  void initializerRestartsTheStream() throws Exception {
    ImageSource src = Cifar10.openDir(TestData.cifar(tmp, 5, 4));
    try (Graph g = new Graph(); Session s = new Session(g)) {
      Ops tf = Ops.create(g);
      Pipeline p = Pipelines.build(tf, src, Split.TEST, PipelineOptions.eval(4));
      s.initialize();
      for (int pass = 0; pass < 2; pass++) {
        try (Result r = s.runner().fetch(p.labels()).run()) {
          assertEquals(TestData.cifarLabel(1, 0), ((TInt32) r.get(0)).getInt(0));
        }
        assertThrows(TFOutOfRangeException.class, () -> s.runner().fetch(p.labels()).run().close());
        s.runner().addTarget(p.initializer()).run();
      }
    }
  }

  @Test
  void trainAndEvalPipelinesShareOneGraph() throws Exception {
    ImageSource src = Cifar10.openDir(TestData.cifar(tmp, 10, 4));
    try (Graph g = new Graph(); Session s = new Session(g)) {
      Ops tf = Ops.create(g);
      Pipeline train = Pipelines.build(tf.withSubScope("train"), src, Split.TRAIN, PipelineOptions.train(5, 1));
      Pipeline eval = Pipelines.build(tf.withSubScope("eval"), src, Split.TEST, PipelineOptions.eval(4));
      s.initialize();
      assertEquals(org.tensorflow.ndarray.Shape.of(5, 32, 32, 3), train.images().shape());
      for (int step = 0; step < 3; step++) {
        try (Result r = s.runner().fetch(train.labels()).run()) {
          assertEquals(5, r.get(0).shape().get(0));
        }
      }
      try (Result r = s.runner().fetch(eval.labels()).run()) {
        assertEquals(TestData.cifarLabel(1, 0), ((TInt32) r.get(0)).getInt(0));
      }
    }
  }

  @Test
  void resumeFromSkipYieldsExactlyTheSameStream() throws Exception {
    ImageSource src = Cifar10.openDir(TestData.cifar(tmp, 10, 3));
    PipelineOptions o = PipelineOptions.train(3, 42).withParallelism(2);
    List<Ex> full = run(src, Split.TRAIN, o, 12); // 36 elements, 3.6 epochs
    assertEquals(36, full.size());
    for (long k : new long[] {7, 10, 23}) {
      List<Ex> resumed = run(src, Split.TRAIN, o.withSkipElements(k), 3);
      for (int j = 0; j < resumed.size(); j++) {
        assertTrue(full.get((int) k + j).same(resumed.get(j)), "k=" + k + " element " + j);
      }
    }
    // The same with a subset of 6 examples: k = 8 crosses into the second epoch.
    PipelineOptions sub = o.withIndices(new int[] {9, 0, 3, 4, 7, 8});
    List<Ex> subFull = run(src, Split.TRAIN, sub, 6);
    List<Ex> subResumed = run(src, Split.TRAIN, sub.withSkipElements(8), 2);
    assertEquals(6, subResumed.size());
    for (int j = 0; j < 6; j++) {
      assertTrue(subFull.get(8 + j).same(subResumed.get(j)), "subset, element " + (8 + j));
    }
    // A second fresh run is identical; another seed is not.
    List<Ex> again = run(src, Split.TRAIN, o, 12);
    for (int i = 0; i < 36; i++) {
      assertTrue(full.get(i).same(again.get(i)));
    }
    List<Ex> other = run(src, Split.TRAIN, o.withSeed(43), 12);
    long differ = 0;
    for (int i = 0; i < 36; i++) {
      differ += full.get(i).same(other.get(i)) ? 0 : 1;
    }
    assertTrue(differ > 18, "seed 43 should give another stream, " + differ + " of 36 differ");
  }

  @Test
  void eachEpochIsADifferentPermutationOfTheSubset() throws Exception {
    ImageSource src = Cifar10.openDir(TestData.cifar(tmp, 20, 3));
    int[] subset = {1, 4, 5, 9, 12, 13, 17, 19};
    PipelineOptions o = PipelineOptions.train(4, 5).withAugment(false).withIndices(subset);
    List<Ex> got = run(src, Split.TRAIN, o, 6); // 3 epochs of 8
    assertEquals(24, got.size());
    // Identify each element by its first pixel (unique per image here).
    List<List<Integer>> epochs = new ArrayList<>();
    for (int e = 0; e < 3; e++) {
      List<Integer> order = new ArrayList<>();
      for (int j = 0; j < 8; j++) {
        order.add(identify(got.get(e * 8 + j), src.spec(), 20));
      }
      Set<Integer> set = new HashSet<>(order);
      assertEquals(Set.of(1, 4, 5, 9, 12, 13, 17, 19), set, "epoch " + e + " is a permutation of the subset");
      epochs.add(order);
    }
    assertNotEquals(epochs.get(0), epochs.get(1));
    assertNotEquals(epochs.get(1), epochs.get(2));
  }

  @Test
  void augmentationCropsAndFlipsWithinThePaddedImage() throws Exception {
    ImageSource src = Cifar10.openDir(TestData.cifar(tmp, 1, 1));
    PipelineOptions o = PipelineOptions.train(1, 9).withShuffle(false);
    List<Ex> got = run(src, Split.TEST, o, 40);
    DatasetSpec spec = src.spec();
    int flipped = 0;
    Set<String> offsets = new HashSet<>();
    for (Ex ex : got) {
      // Find (dy, dx, flip) with |d| <= 4 that explains every pixel.
      boolean found = false;
      for (int dy = -4; dy <= 4 && !found; dy++) {
        for (int dx = -4; dx <= 4 && !found; dx++) {
          for (int f = 0; f < 2 && !found; f++) {
            if (matches(ex, spec, dy, dx, f == 1)) {
              found = true;
              flipped += f;
              offsets.add(dy + "," + dx);
            }
          }
        }
      }
      assertTrue(found, "augmented image is not a 4-pixel shifted (flipped) copy");
    }
    assertTrue(flipped > 5 && flipped < 35, "flips: " + flipped + " of 40");
    assertTrue(offsets.size() > 10, "distinct offsets: " + offsets.size());
  }

  private static boolean matches(Ex ex, DatasetSpec spec, int dy, int dx, boolean flip) {
    for (int y = 0; y < 32; y++) {
      for (int x = 0; x < 32; x++) {
        int sx = flip ? 31 - x : x;
        int yy = y + dy;
        int xx = sx + dx;
        for (int c = 0; c < 3; c++) {
          int v = yy >= 0 && yy < 32 && xx >= 0 && xx < 32 ? TestData.cifarPixel(1, 0, yy, xx, c) : 0;
          if (Math.abs(norm(v, spec, c) - ex.pixels()[(y * 32 + x) * 3 + c]) > 1e-4f) {
            return false;
          }
        }
      }
    }
    return true;
  }

  private static int identify(Ex ex, DatasetSpec spec, int n) {
    for (int i = 0; i < n; i++) {
      if (Math.abs(norm(TestData.cifarPixel(0, i, 0, 0, 0), spec, 0) - ex.pixels()[0]) < 1e-5f
          && TestData.cifarLabel(0, i) == ex.label()) {
        return i;
      }
    }
    return -1;
  }
}
