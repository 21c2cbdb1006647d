package dev.selfie.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.selfie.data.DatasetSpec;
import dev.selfie.data.Datasets;
import dev.selfie.data.pipeline.Preprocess;
import dev.selfie.graph.ModelConfig;
import dev.selfie.graph.VarStore;
import dev.selfie.training.optim.OptimizerConfig;
import dev.selfie.training.parallel.DataParallel;
import dev.selfie.training.parallel.Towers;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.proto.DataType;
import org.tensorflow.proto.GraphDef;
import org.tensorflow.proto.NodeDef;
import org.tensorflow.types.TUint8;

/**
 * Devices in the graph of a 2-GPU replicated pretraining run (built, not run: no GPU here): the
 * raw uint8 batch is split on the host CPU before any cast, each tower casts and normalises its
 * own share on its GPU, each GPU holds a copy of the variables (tower 0's under the canonical
 * names, tower 1's as {@code replica_1/...}) and applies its own update.
 */
class TowerPlacementTest {
  static final String GPU0 = "/device:GPU:0";
  static final String GPU1 = "/device:GPU:1";

  static DataParallel.Built buildUint8(Towers.Placement p) {
    DatasetSpec spec = Datasets.spec("cifar10");
    return DataParallel.buildPretrain(
        ModelConfig.preset("tiny").withData(3, 10), OptimizerConfig.sgd(0.1, 0, 10), 1, p,
        tf -> new Towers.Input<>(tf.withName("images").placeholder(TUint8.class,
            Placeholder.shape(Shape.of(4, 32, 32, 3))),
            (t, share) -> Preprocess.fromUint8(t, share, spec)), true);
  }

  @Test
  void uint8BatchIsSplitOnTheHostAndEachGpuCastsItsShareAndHoldsItsVariables() {
    Towers.Placement p = Towers.Placement.local(2, true);
    assertEquals(Towers.Layout.REPLICATED, p.layout());
    DataParallel.Built b = buildUint8(p);
    GraphDef def;
    try (var g = b.graph()) {
      def = g.toGraphDef();
    }
    List<String> splits = new ArrayList<>();
    List<String> casts = new ArrayList<>();
    Map<String, Integer> byDevice = new TreeMap<>();
    int tower1OnGpu1 = 0;
    for (NodeDef n : def.getNodeList()) {
      String at = n.getName() + "@" + n.getDevice();
      if (n.getOp().equals("Split")) {
        splits.add(at + " " + n.getAttrOrThrow("T").getType());
      }
      if (n.getOp().equals("Cast") && n.getAttrOrThrow("SrcT").getType() == DataType.DT_UINT8) {
        casts.add(at);
      }
      if (n.getOp().equals("VariableV2") || n.getOp().equals(VarStore.REPLICA_OP)) {
        if (n.getAttrOrThrow("dtype").getType() == DataType.DT_FLOAT) {
          byDevice.merge(n.getOp() + "@" + n.getDevice(), 1, Integer::sum);
        }
        if (n.getOp().equals(VarStore.REPLICA_OP)) {
          assertTrue(n.getName().startsWith("replica_1/"), n.getName());
        } else {
          assertTrue(!n.getName().startsWith("replica_"), n.getName());
        }
      }
      if (n.getOp().equals("ApplyMomentum")) {
        byDevice.merge("ApplyMomentum@" + n.getDevice(), 1, Integer::sum);
      }
      if (n.getName().startsWith("tower_1/") && n.getDevice().equals(GPU1)) {
        tower1OnGpu1++;
      }
    }
    System.out.println("TowerPlacementTest: splits " + splits + "; uint8 casts " + casts
        + "; variables and updates by device " + byDevice);
    // One split, of the uint8 batch, on the host.
    assertEquals(List.of("split_batch/Split@/device:CPU:0 DT_UINT8"), splits);
    // One cast per tower, of its share, on its GPU: nothing casts the whole batch.
    assertEquals(2, casts.size(), casts.toString());
    assertTrue(casts.stream().anyMatch(c -> c.startsWith("tower_0/") && c.endsWith("@" + GPU0)),
        casts.toString());
    assertTrue(casts.stream().anyMatch(c -> c.startsWith("tower_1/") && c.endsWith("@" + GPU1)),
        casts.toString());
    // Every float variable (weights, slots, BN statistics) once per GPU; one update per
    // trainable variable per GPU.
    int canonical = byDevice.getOrDefault("VariableV2@" + GPU0, 0);
    assertTrue(canonical > 100, byDevice.toString());
    assertEquals(canonical, byDevice.getOrDefault(VarStore.REPLICA_OP + "@" + GPU1, 0),
        byDevice.toString());
    assertEquals(4, byDevice.size(), "variables and updates on GPU:0 and GPU:1 only: " + byDevice);
    int updates = byDevice.getOrDefault("ApplyMomentum@" + GPU0, 0);
    assertTrue(updates > 50, byDevice.toString());
    assertEquals(updates, byDevice.getOrDefault("ApplyMomentum@" + GPU1, 0), byDevice.toString());
    assertTrue(tower1OnGpu1 > 50, "tower 1 ops on GPU:1: " + tower1OnGpu1);
  }

  @Test
  void variablesOnTheHostLayoutKeepsOneCopyOnTheCpu() {
    Towers.Placement p = Towers.Placement.local(2, true, Towers.Layout.ON_HOST);
    DataParallel.Built b = buildUint8(p);
    assertTrue(b.sync() == null);
    try (var g = b.graph()) {
      for (NodeDef n : g.toGraphDef().getNodeList()) {
        assertTrue(!n.getOp().equals(VarStore.REPLICA_OP), n.getName());
        if (n.getOp().equals("VariableV2") || n.getOp().equals("ApplyMomentum")) {
          assertTrue(n.getDevice().isEmpty() || n.getDevice().equals("/device:CPU:0"),
              n.getName() + "@" + n.getDevice());
        }
      }
    }
  }
}
