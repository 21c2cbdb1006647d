package dev.selfie.graph;

import static org.junit.jupiter.api.Assertions.*;

import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.op.Ops;

/** Which finetuning variables come from pretraining (by name) and which start fresh. */
class TransferTest {

  private static Set<String> names(VarStore vars) {
    return vars.all().stream().map(VarStore.Entry::name).collect(Collectors.toSet());
  }

  @Test
  void pretrainedNamesSplitEachHead() {
    ModelConfig c = ModelConfig.preset("tiny");
    Set<String> pretrained;
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      VarStore vars = new VarStore(tf);
      Selfie.pretrain(tf, vars, c, TestSupport.images(tf, c), TestSupport.seed(tf), true);
      pretrained = names(vars);
    }
    for (Classifier.Head head : Classifier.Head.values()) {
      try (Graph g = new Graph()) {
        Ops tf = Ops.create(g);
        VarStore vars = new VarStore(tf);
        Classifier.build(tf, vars, c, TestSupport.images(tf, c), head, TestSupport.seed(tf),
            true);
        Selfie.Transfer t = Selfie.pretrainedNames(vars, head);
        assertEquals(names(vars), union(t.fromPretraining(), t.fresh()));
        assertTrue(pretrained.containsAll(t.fromPretraining()),
            head + ": restored names must exist in the pretraining graph");
        for (String fresh : t.fresh()) {
          if (head == Classifier.Head.HYBRID) {
            assertTrue(fresh.startsWith("classifier/hybrid/"), fresh);
          } else {
            assertTrue(fresh.startsWith("resnet/stage4/")
                || fresh.startsWith("resnet/stage4_final_bn/")
                || fresh.startsWith("classifier/resnet/"), fresh);
          }
        }
        Set<String> expectedRestored = new HashSet<>(pretrained);
        expectedRestored.removeIf(n -> n.startsWith("position/"));
        if (head == Classifier.Head.RESNET) {
          expectedRestored.removeIf(n -> n.startsWith("attention/")
              || n.startsWith("resnet/stage3_final_bn/"));
        }
        assertEquals(expectedRestored, new HashSet<>(t.fromPretraining()), head.toString());
        assertTrue(t.fromPretraining().contains("resnet/stage1/block0/bn1/moving_mean"));
      }
    }
  }

  private static Set<String> union(List<String> a, List<String> b) {
    Set<String> s = new HashSet<>(a);
    s.addAll(b);
    assertEquals(a.size() + b.size(), s.size(), "disjoint");
    return s;
  }
}
