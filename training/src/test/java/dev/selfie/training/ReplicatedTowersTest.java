package dev.selfie.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.selfie.graph.ModelConfig;
import dev.selfie.graph.VarStore;
import dev.selfie.training.optim.OptimizerConfig;
import dev.selfie.training.parallel.DataParallel;
import dev.selfie.training.parallel.Replicas;
import dev.selfie.training.parallel.Towers;
import dev.selfie.training.runtime.Devices;
import dev.selfie.training.runtime.SessionConfigs;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.GraphOperation;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.StdArrays;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.proto.ConfigProto;
import org.tensorflow.proto.DataType;
import org.tensorflow.proto.NodeDef;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt64;

/**
 * Replicated towers beyond the CPU equivalence test: the graph of a 2-GPU run (device names
 * {@code /device:GPU:k}) trains on this GPU-less machine under soft placement and keeps its copies
 * identical; the NCCL all-reduce graph (built only: the CPU build of TensorFlow has no NCCL
 * kernel, so a graph holding one cannot run here at all); the same graph trained on two real GPUs
 * where they exist (skipped otherwise); the sync op after a restore.
 */
class ReplicatedTowersTest {
  static final int B = 4;

  static DataParallel.Built build(Towers.Placement p) {
    return DataParallel.buildPretrain(ModelConfig.preset("tiny").withData(3, 10),
        OptimizerConfig.sgd(0.05, 0, 10).withWeightDecay(1e-4), 5, p,
        tf -> Towers.Input.floats(tf.withName("images").placeholder(TFloat32.class,
            Placeholder.shape(Shape.of(B, 32, 32, 3)))), true);
  }

  /** Trains {@code steps} steps; returns the losses. */
  static List<Double> train(Session s, Graph g, DataParallel.Built b, int steps) {
    List<Double> losses = new ArrayList<>();
    for (int i = 0; i < steps; i++) {
      try (TFloat32 x = TFloat32.tensorOf(StdArrays.ndCopyOf(GpuPlacementTest.images(i % 2)));
          TInt64 seed = TInt64.vectorOf(5, i);
          Result r = s.runner().feed(g.operationOrThrow("images").output(0), x)
              .feed(b.seed(), seed).fetch(b.loss()).addTarget(b.train().trainOp()).run()) {
        losses.add((double) ((TFloat32) r.get(0)).getFloat());
      }
    }
    return losses;
  }

  /** max |tower 0's copy - replica's copy| over every replicated float variable; count in [1]. */
  static double[] copyDifference(Session s, Graph g) {
    List<String[]> pairs = new ArrayList<>();
    for (var it = g.operations(); it.hasNext(); ) {
      GraphOperation op = (GraphOperation) it.next();
      // Batch-norm moving statistics follow tower 0 only (the other copies are refreshed by the
      // sync after a restore): compare everything else.
      if (op.type().equals(VarStore.REPLICA_OP)
          && op.output(0).dataType() == DataType.DT_FLOAT_REF
          && !op.name().endsWith("/moving_mean") && !op.name().endsWith("/moving_variance")) {
        pairs.add(new String[] {op.name(), op.name().substring(op.name().indexOf('/') + 1)});
      }
    }
    double worst = 0;
    for (String[] p : pairs) {
      try (Result r = s.runner().fetch(g.operationOrThrow(p[0]).output(0))
          .fetch(g.operationOrThrow(p[1]).output(0)).run()) {
        float[] a = floats((TFloat32) r.get(0));
        float[] c = floats((TFloat32) r.get(1));
        for (int i = 0; i < a.length; i++) {
          worst = Math.max(worst, Math.abs(a[i] - c[i]));
        }
      }
    }
    return new double[] {worst, pairs.size()};
  }

  @Test
  void gpuNamedReplicatedGraphTrainsUnderSoftPlacementAndKeepsCopiesIdentical() {
    assertFalse(Devices.hasGpu(Devices.list()), "this test is for machines without a GPU");
    Towers.Placement p = Towers.Placement.local(2, true);
    assertEquals(Towers.Reduction.HOST, p.reduction(), "no NCCL kernel in the CPU build");
    DataParallel.Built b = build(p);
    SessionConfigs.Options gpuRun = new SessionConfigs.Options(0, 0, false, true);
    try (Graph g = b.graph(); Session s = new Session(g, DataParallel.localConfig(gpuRun, 2))) {
      assertTrue(g.operationOrThrow("replica_1/" + firstKernel(g)).device().equals(
          "/device:GPU:1"));
      s.initialize();
      List<Double> losses = train(s, g, b, 3);
      double[] diff = copyDifference(s, g);
      System.out.printf("ReplicatedTowersTest: soft placement, losses %s; %d replica copies,"
          + " max |diff| %.3g%n", losses, (int) diff[1], diff[0]);
      losses.forEach(l -> assertTrue(Double.isFinite(l), "loss " + l));
      assertNotEquals(losses.get(0), losses.get(2), "nothing trained");
      assertTrue(diff[1] > 100, "replica copies: " + diff[1]);
      assertEquals(0.0, diff[0], "tower 1's copies drifted from tower 0's");

      // A restore fills tower 0's copies only; the sync op copies them to tower 1.
      scramble(s, g, "replica_1/" + firstKernel(g));
      assertTrue(copyDifference(s, g)[0] > 0, "the scrambled copy must differ");
      b.syncReplicas(s);
      assertEquals(0.0, copyDifference(s, g)[0], "sync must copy tower 0's variables");
    }
  }

  static float[] floats(TFloat32 t) {
    float[] v = new float[(int) t.size()];
    t.copyTo(org.tensorflow.ndarray.NdArrays.wrap(t.shape(),
        org.tensorflow.ndarray.buffer.DataBuffers.of(v, false, false)));
    return v;
  }

  /** Name of a trainable kernel of the tiny model (the first conv kernel found). */
  static String firstKernel(Graph g) {
    List<String> names = new ArrayList<>();
    for (var it = g.operations(); it.hasNext(); ) {
      var op = it.next();
      if (op.type().equals("VariableV2") && op.name().endsWith("/kernel")) {
        names.add(op.name());
      }
    }
    names.sort(null);
    return names.get(0);
  }

  /** Sets variable {@code name} to ones (an op built into the running graph for the test). */
  static void scramble(Session s, Graph g, String name) {
    var tf = org.tensorflow.op.Ops.create(g);
    org.tensorflow.Output<TFloat32> v = g.operationOrThrow(name).output(0);
    var add = tf.assign(v, tf.onesLike(tf.identity(v)));
    s.runner().addTarget(add).run().close();
  }

  @Test
  void ncclGraphHasOneAllReducePerGradientAndGpu() {
    Towers.Placement p = Towers.Placement.local(2, true).withReduction(Towers.Reduction.NCCL);
    DataParallel.Built b = build(p);
    Map<String, List<String>> bySharedName = new TreeMap<>();
    int hostSums = 0;
    try (Graph g = b.graph()) {
      for (NodeDef n : g.toGraphDef().getNodeList()) {
        if (n.getOp().equals("NcclAllReduce")) {
          assertEquals("sum", n.getAttrOrThrow("reduction").getS().toStringUtf8());
          assertEquals(2, n.getAttrOrThrow("num_devices").getI());
          bySharedName.computeIfAbsent(n.getAttrOrThrow("shared_name").getS().toStringUtf8(),
              k -> new ArrayList<>()).add(n.getDevice());
        }
        if (n.getName().startsWith("all_reduce_host")) {
          hostSums++;
        }
      }
    }
    System.out.println("ReplicatedTowersTest: " + bySharedName.size() + " NCCL all-reduces");
    assertTrue(bySharedName.size() > 50, "one all-reduce per trainable variable");
    bySharedName.forEach((k, v) -> assertEquals(List.of("/device:GPU:0", "/device:GPU:1"),
        v.stream().sorted().toList(), k));
    assertEquals(0, hostSums, "no host reduction with NCCL");
  }

  @Test
  void ncclAllReduceTrainsOnTwoGpus() {
    long gpus = Devices.list().stream().filter(d -> d.type().equals("GPU")).count();
    assumeTrue(gpus >= 2 && Replicas.ncclAvailable(), "needs 2 GPUs and TensorFlow's NCCL kernel"
        + " (this machine: " + gpus + " GPUs, NCCL kernel " + Replicas.ncclAvailable() + ")");
    Towers.Placement p = Towers.Placement.local(2, true);
    assertEquals(Towers.Reduction.NCCL, p.reduction());
    DataParallel.Built b = build(p);
    ConfigProto c = DataParallel.localConfig(new SessionConfigs.Options(0, 0, false, true), 2);
    try (Graph g = b.graph(); Session s = new Session(g, c)) {
      s.initialize();
      List<Double> losses = train(s, g, b, 3);
      losses.forEach(l -> assertTrue(Double.isFinite(l), "loss " + l));
      double[] diff = copyDifference(s, g);
      System.out.printf("ReplicatedTowersTest: NCCL on 2 GPUs, losses %s, copies max |diff| %.3g%n",
          losses, diff[0]);
      // NCCL's ring gives every GPU the same sum: the copies stay identical.
      assertTrue(diff[0] < 1e-6, Arrays.toString(diff));
    }
  }
}
