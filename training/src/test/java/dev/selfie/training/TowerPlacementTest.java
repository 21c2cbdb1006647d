package dev.selfie.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.selfie.graph.ModelConfig;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.tensorflow.GraphOperation;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;

/**
 * Devices in the graph of a 2-GPU replicated pretraining run (built, not run: no GPU here): the
 * batch is split on the CPU that holds the variables, not on GPU:0, and each tower's ops ask for
 * their own GPU.
 */
class TowerPlacementTest {
  @Test
  void batchIsSplitOnTheHostAndTowersGoToTheirGpus() {
    Towers.Placement p = Towers.Placement.local(2, true);
    DataParallel.Built b = DataParallel.buildPretrain(
        ModelConfig.preset("tiny").withData(3, 10), OptimizerConfig.sgd(0.1, 0, 10), 1, p,
        tf -> Towers.Input.floats(tf.withName("images").placeholder(TFloat32.class,
            Placeholder.shape(Shape.of(4, 32, 32, 3)))), true);
    try (var g = b.graph()) {
      List<String> splits = new ArrayList<>();
      int tower1OnGpu1 = 0;
      for (Iterator<GraphOperation> it = g.operations(); it.hasNext(); ) {
        GraphOperation op = it.next();
        if (op.name().startsWith("split_batch/") && op.type().equals("Split")) {
          splits.add(op.name() + "@" + op.device());
        }
        if (op.name().startsWith("tower_1/") && op.device().equals("/device:GPU:1")) {
          tower1OnGpu1++;
        }
      }
      assertEquals(1, splits.size(), splits.toString());
      assertTrue(splits.get(0).endsWith("@/device:CPU:0"), splits.toString());
      assertTrue(tower1OnGpu1 > 50, "tower 1 ops on GPU:1: " + tower1OnGpu1);
      assertFalse(p.host().toString().contains("GPU"));
    }
  }
}
