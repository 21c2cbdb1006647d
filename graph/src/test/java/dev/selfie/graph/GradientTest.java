package dev.selfie.graph;

import static org.junit.jupiter.api.Assertions.*;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Output;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TInt64;

/** Every trainable variable gets a finite, non-zero gradient (tiny preset, dropout on). */
class GradientTest {
  private static final int BATCH = 8;

  static void assertAllGradients(Graph g, VarStore vars, Operand<TFloat32> loss,
      Placeholder<TFloat32> images, Placeholder<TInt64> seed, Placeholder<TInt32> labels,
      ModelConfig c) {
    List<VarStore.Entry> trainable = vars.trainable();
    assertFalse(trainable.isEmpty());
    Output<?>[] grads = TestSupport.gradients(g, loss,
        trainable.stream().map(VarStore.Entry::value).toList());
    assertEquals(trainable.size(), grads.length);
    try (Session s = TestSupport.session(g);
        TFloat32 x = TestSupport.randomImages(BATCH, c, 3);
        TInt64 sd = TestSupport.seedTensor(5, 1);
        TInt32 y = TInt32.vectorOf(0, 1, 2, 3, 4, 5, 6, 7)) {
      var runner = s.runner().feed(images, x).feed(seed, sd);
      if (labels != null) {
        runner.feed(labels, y);
      }
      for (Output<?> grad : grads) {
        assertNotNull(grad);
        runner.fetch(grad);
      }
      List<String> zero = new ArrayList<>();
      try (Result r = runner.run()) {
        for (int i = 0; i < grads.length; i++) {
          double norm = TestSupport.norm(TestSupport.floats(r.get(i)));
          assertTrue(Double.isFinite(norm), trainable.get(i).name() + " gradient not finite");
          if (norm == 0) {
            zero.add(trainable.get(i).name());
          }
        }
      }
      assertEquals(List.of(), zero, "variables without gradient");
    }
  }

  @Test
  void pretrainingLossReachesEveryTrainableVariable() {
    ModelConfig c = ModelConfig.preset("tiny");
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      VarStore vars = new VarStore(tf, 1);
      var images = TestSupport.images(tf, c);
      var seed = TestSupport.seed(tf);
      var out = Selfie.pretrain(tf, vars, c, images, seed, true);
      assertTrue(vars.get(Selfie.ROW_EMBEDDING) != null && vars.get("attention/u0") != null);
      assertTrue(vars.all().stream().noneMatch(e -> e.name().startsWith("resnet/stage4")));
      assertFalse(vars.state().isEmpty());
      assertTrue(vars.trainable().stream().noneMatch(e -> e.name().contains("moving_")));
      assertAllGradients(g, vars, out.loss(), images, seed, null, c);
    }
  }

  @Test
  void finetuningLossReachesEveryTrainableVariableOfBothHeads() {
    ModelConfig c = ModelConfig.preset("tiny");
    for (Classifier.Head head : Classifier.Head.values()) {
      try (Graph g = new Graph()) {
        Ops tf = Ops.create(g);
        VarStore vars = new VarStore(tf, 2);
        var images = TestSupport.images(tf, c);
        var seed = TestSupport.seed(tf);
        Placeholder<TInt32> labels =
            tf.placeholder(TInt32.class, Placeholder.shape(Shape.of(-1)));
        var out = Classifier.build(tf, vars, c, images, head, seed, true);
        var loss = Losses.crossEntropy(tf, out.logits(), labels);
        assertAllGradients(g, vars, loss, images, seed, labels, c);
      }
    }
  }
}
