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

  /**
   * A model pretrained with every variant: the query variables stay behind; the hybrid head of a
   * model pretrained with context positions uses (and restores) the position embeddings, the
   * ResNet head does not.
   */
  @Test
  void variantsTransferTheirPositionsToTheHybridHeadAndNeverTheQueryVariables() {
    for (ModelConfig.QueryMode mode : ModelConfig.QueryMode.values()) {
      for (boolean positions : new boolean[] {false, true}) {
        ModelConfig c = ModelConfig.preset("tiny").withQueryMode(mode)
            .withContextPositions(positions).withMaskContent(true);
        Set<String> pretrained;
        try (Graph g = new Graph()) {
          Ops tf = Ops.create(g);
          VarStore vars = new VarStore(tf);
          Selfie.pretrain(tf, vars, c, TestSupport.images(tf, c), TestSupport.seed(tf), true);
          pretrained = names(vars);
        }
        assertEquals(mode != ModelConfig.QueryMode.ADD,
            pretrained.stream().anyMatch(n -> n.startsWith("query/")), mode.toString());
        for (Classifier.Head head : Classifier.Head.values()) {
          try (Graph g = new Graph()) {
            Ops tf = Ops.create(g);
            VarStore vars = new VarStore(tf);
            Classifier.build(tf, vars, c, TestSupport.images(tf, c), head, TestSupport.seed(tf),
                false);
            Selfie.Transfer t = Selfie.pretrainedNames(vars, head);
            String what = mode + " positions=" + positions + " " + head;
            assertTrue(pretrained.containsAll(t.fromPretraining()), what);
            assertTrue(t.fromPretraining().stream().noneMatch(n -> n.startsWith("query/")), what);
            boolean restoresPositions = t.fromPretraining().contains(Selfie.ROW_EMBEDDING)
                && t.fromPretraining().contains(Selfie.COL_EMBEDDING);
            assertEquals(positions && head == Classifier.Head.HYBRID, restoresPositions, what);
            assertTrue(t.fresh().stream().noneMatch(n -> n.startsWith("position/")), what);
          }
        }
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
