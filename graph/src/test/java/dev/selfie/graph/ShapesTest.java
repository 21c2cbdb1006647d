package dev.selfie.graph;

import static org.junit.jupiter.api.Assertions.*;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt64;

/** The shape of every endpoint, executed for tiny and small, built (static shapes) for paper. */
class ShapesTest {

  private record Endpoints(
      Selfie.PretrainOutputs pretrain,
      Operand<TFloat32> patchEmbeddings,
      Operand<TFloat32> pooledAll,
      Operand<TFloat32> imageEmbedding,
      Classifier.ClassifierOutputs resnet,
      Classifier.ClassifierOutputs hybrid) {}

  private static Endpoints buildAll(Ops tf, VarStore vars, ModelConfig c,
      Operand<TFloat32> images, Operand<TInt64> seed, boolean training) {
    return new Endpoints(
        Selfie.pretrain(tf, vars, c, images, seed, training),
        Selfie.patchEmbeddings(tf, vars, c, images, training),
        Selfie.attentionPoolAll(tf, vars, c, images, seed, training),
        Selfie.imageEmbedding(tf, vars, c, images, training),
        Classifier.build(tf, vars, c, images, Classifier.Head.RESNET, seed, training),
        Classifier.build(tf, vars, c, images, Classifier.Head.HYBRID, seed, training));
  }

  private static void assertShape(Shape expected, Shape actual) {
    assertArrayEquals(expected.asArray(), actual.asArray(),
        "expected " + expected + ", got " + actual);
  }

  private static void assertShape(Shape expected, Shape actual, String message) {
    assertArrayEquals(expected.asArray(), actual.asArray(),
        message + ": expected " + expected + ", got " + actual);
  }

  private static void assertStatic(ModelConfig c, Endpoints e) {
    int n = c.numPatches();
    int m = c.numMasked();
    int d = c.d();
    assertShape(Shape.scalar(), e.pretrain().loss().shape());
    assertShape(Shape.scalar(), e.pretrain().accuracy().shape());
    assertShape(Shape.of(-1, m, m), e.pretrain().logits().shape());
    assertShape(Shape.of(-1, m), e.pretrain().masked().shape());
    assertShape(Shape.of(-1, n - m), e.pretrain().context().shape());
    assertShape(Shape.of(-1, n, d), e.pretrain().patchEmbeddings().shape());
    assertShape(Shape.of(-1, d), e.pretrain().pooled().shape());
    assertShape(Shape.of(-1, m, d), e.pretrain().queries().shape());
    assertShape(Shape.of(-1, n, d), e.patchEmbeddings().shape());
    assertShape(Shape.of(-1, d), e.pooledAll().shape());
    assertShape(Shape.of(-1, d), e.imageEmbedding().shape());
    assertShape(Shape.of(-1, c.numClasses()), e.resnet().logits().shape());
    assertShape(Shape.of(-1, c.stageWidths().get(3)), e.resnet().embedding().shape());
    assertShape(Shape.of(-1, c.numClasses()), e.hybrid().logits().shape());
    assertShape(Shape.of(-1, d), e.hybrid().embedding().shape());
  }

  private static void runPreset(String preset, int batch) {
    ModelConfig c = ModelConfig.preset(preset);
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      VarStore vars = new VarStore(tf);
      Placeholder<TFloat32> images = TestSupport.images(tf, c);
      Placeholder<TInt64> seed = TestSupport.seed(tf);
      Endpoints e = buildAll(tf, vars, c, images, seed, true);
      assertStatic(c, e);
      try (Session s = TestSupport.session(g);
          TFloat32 x = TestSupport.randomImages(batch, c, 1);
          TInt64 sd = TestSupport.seedTensor(7, 0)) {
        var runner = s.runner().feed(images, x).feed(seed, sd);
        List<Operand<?>> fetches = List.of(e.pretrain().loss(), e.pretrain().accuracy(),
            e.pretrain().logits(), e.pretrain().labels(), e.pretrain().masked(),
            e.pretrain().context(), e.pretrain().patchEmbeddings(), e.pretrain().pooled(),
            e.pretrain().queries(), e.patchEmbeddings(), e.pooledAll(), e.imageEmbedding(),
            e.resnet().logits(), e.resnet().embedding(), e.hybrid().logits(),
            e.hybrid().embedding());
        fetches.forEach(runner::fetch);
        vars.updates().forEach(runner::addTarget);
        int n = c.numPatches();
        int m = c.numMasked();
        int d = c.d();
        List<Shape> expected = List.of(Shape.scalar(), Shape.scalar(), Shape.of(batch, m, m),
            Shape.of(batch, m), Shape.of(batch, m), Shape.of(batch, n - m),
            Shape.of(batch, n, d), Shape.of(batch, d), Shape.of(batch, m, d),
            Shape.of(batch, n, d), Shape.of(batch, d), Shape.of(batch, d),
            Shape.of(batch, c.numClasses()), Shape.of(batch, c.stageWidths().get(3)),
            Shape.of(batch, c.numClasses()), Shape.of(batch, d));
        try (Result r = runner.run()) {
          for (int i = 0; i < expected.size(); i++) {
            assertEquals(expected.get(i), r.get(i).shape(), preset + " endpoint " + i);
          }
          float loss = TestSupport.scalar(r.get(0));
          assertTrue(Float.isFinite(loss) && loss > 0, "loss " + loss);
        }
      }
    }
  }

  @Test
  void tinyEndpointsExecute() {
    runPreset("tiny", 3);
  }

  @Test
  void smallEndpointsExecute() {
    runPreset("small", 2);
  }

  @Test
  void paperPresetsBuild() {
    for (String preset : List.of("paper", "paper224")) {
      ModelConfig c = ModelConfig.preset(preset);
      // One mode per preset keeps the test short; both modes are covered across the two.
      for (boolean training : new boolean[] {preset.equals("paper")}) {
        try (Graph g = new Graph()) {
          long t0 = System.nanoTime();
          Ops tf = Ops.create(g);
          VarStore vars = new VarStore(tf);
          assertStatic(c, buildAll(tf, vars, c, TestSupport.images(tf, c), TestSupport.seed(tf),
              training));
          assertEquals(training, !vars.updates().isEmpty());
          long ms = (System.nanoTime() - t0) / 1_000_000;
          assertTrue(ms < 20_000, preset + " graph took " + ms + " ms to build");
        }
      }
    }
  }

  @Test
  void wrongImageShapeIsRejected() {
    ModelConfig c = ModelConfig.preset("tiny");
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      VarStore vars = new VarStore(tf);
      var images = tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, 28, 28, 1)));
      var e = assertThrows(IllegalArgumentException.class,
          () -> Selfie.pretrain(tf, vars, c, images, TestSupport.seed(tf), true));
      assertTrue(e.getMessage().contains("[B, 32, 32, 3]"), e.getMessage());
    }
  }
}
