package dev.selfie.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.selfie.graph.Layers;
import dev.selfie.graph.ModelConfig;
import dev.selfie.graph.Selfie;
import dev.selfie.graph.VarStore;
import dev.selfie.training.loop.GlobalStep;
import dev.selfie.training.optim.OptimizerConfig;
import dev.selfie.training.optim.Optimizers;
import dev.selfie.training.parallel.DataParallel;
import dev.selfie.training.parallel.Towers;
import dev.selfie.training.runtime.SessionConfigs;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.StdArrays;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.proto.DeviceStepStats;
import org.tensorflow.proto.NodeExecStats;
import org.tensorflow.proto.RunMetadata;
import org.tensorflow.proto.RunOptions;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TInt64;

/**
 * N=3 synchronous data-parallel steps with K=2 towers on 2 virtual CPU devices equal N
 * single-tower steps on the combined batch, from the same initial weights (tiny preset, batch 4,
 * SGD-Nesterov with weight decay), in both layouts: variables on the host (one copy) and
 * replicated (one copy per tower, gradients all-reduced on the host). Replicated, the towers'
 * copies of every variable and slot are bit-identical after the N steps. BN is frozen (inference mode, {@code training=false}): with
 * batch statistics each tower normalises its own 2 images, which is by design not the statistics
 * of the 4. Dropout is off with it.
 *
 * <p>Masking is random per tower ({@link Towers#towerSeed}); the reference is the pretraining
 * graph of {@link Selfie#pretrain} written out from its public pieces, on all 4 images, with the
 * towers' two masks concatenated. A check inside the reference graph shows that this
 * reimplementation equals {@code Selfie.pretrain} on one half.
 *
 * <p>Tolerances: the towers sum each gradient in two halves (per tower, then add_n) where one
 * tower sums over the 4 images at once, so float32 rounding differs by a few ulps per op
 * (~1e-7 relative); over 3 steps the weights differ by ~1e-6 (printed). 1e-5 on the losses and
 * 2e-5 on the weights (both relative, or absolute below 1) leave 10x headroom and stay far below what
 * one step moves most variables (&gt; 1e-4). The two layouts run the same reductions on the same
 * device, so they agree to 1e-6.
 *
 * <p>Also checked from the last step's trace: every gradient op of tower i ran on CPU:i.
 */
class TowerEquivalenceTest {
  static final int B = 4;
  static final long INIT_SEED = 7;
  static final long[] STEP_SEED = {11, 0};
  static final int STEPS = 3;

  static ModelConfig model() {
    return ModelConfig.preset("tiny").withData(3, 10);
  }

  static OptimizerConfig optimizer() {
    return OptimizerConfig.sgd(0.02, 0, 10).withWeightDecay(1e-3);
  }

  static float[][][][] images() {
    Random r = new Random(3);
    float[][][][] x = new float[B][32][32][3];
    for (float[][][] a : x) {
      for (float[][] b : a) {
        for (float[] c : b) {
          for (int i = 0; i < 3; i++) {
            c[i] = (float) r.nextGaussian();
          }
        }
      }
    }
    return x;
  }

  record StepOut(List<Double> losses, Map<String, float[]> before, Map<String, float[]> after,
      RunMetadata meta, Map<String, float[]> slots) {
    double loss() {
      return losses.get(losses.size() - 1);
    }
  }

  /** {@link #STEPS} steps of the 2-tower graph in {@code layout}; replica copies by name. */
  static StepOut towers(Towers.Layout layout, Map<String, float[]> replicaCopies) {
    Towers.Placement placement = Towers.Placement.local(2, false, layout);
    DataParallel.Built b = DataParallel.buildPretrain(model(), optimizer(), INIT_SEED, placement,
        tf -> Towers.Input.floats(tf.withName("images").placeholder(TFloat32.class,
            Placeholder.shape(Shape.of(B, 32, 32, 3)))), false);
    try (Graph g = b.graph();
        Session s = new Session(g, DataParallel.localConfig(
            new SessionConfigs.Options(1, 1, false, false), 2))) {
      s.initialize();
      StepOut out = steps(s, g, b.seed(), g.operationOrThrow("images").output(0), b.train(),
          b.loss(), true);
      List<String> replicas = new ArrayList<>();
      for (var it = g.operations(); it.hasNext(); ) {
        var op = it.next();
        if (op.type().equals(dev.selfie.graph.VarStore.REPLICA_OP)
            && op.output(0).dataType() == org.tensorflow.proto.DataType.DT_FLOAT_REF) {
          replicas.add(op.name());
        }
      }
      replicaCopies.putAll(read(s, g, replicas));
      return out;
    }
  }

  @Test
  void twoTowersEqualOneTowerOnTheCombinedBatch() {
    ModelConfig c = model();
    Map<String, float[]> copies = new LinkedHashMap<>();
    StepOut towers = towers(Towers.Layout.REPLICATED, copies);
    Map<String, float[]> noCopies = new LinkedHashMap<>();
    StepOut onHost = towers(Towers.Layout.ON_HOST, noCopies);
    assertTrue(noCopies.isEmpty(), "variables on the host: no replica copies");

    StepOut ref;
    double halfReimpl;
    double halfPretrain;
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      VarStore vars = new VarStore(Ops.create(g), INIT_SEED);
      GlobalStep step = GlobalStep.create(tf);
      Placeholder<TInt64> seed = tf.withName("seed")
          .placeholder(TInt64.class, Placeholder.shape(Shape.of(2)));
      Placeholder<TFloat32> x = tf.withName("images").placeholder(TFloat32.class,
          Placeholder.shape(Shape.of(B, 32, 32, 3)));
      Operand<TInt32> half = tf.constant(B / 2);
      // Selfie.pretrain draws its mask from stream 0 of the tower's seed (Layers.subSeed: since
      // the multiply-add stream mix, stream 0 is no longer the seed itself).
      Selfie.Mask m0 = Selfie.randomMask(tf, half, c.numPatches(), c.numMasked(),
          Selfie.maskSeed(tf, Towers.towerSeed(tf, seed, 0)));
      Selfie.Mask m1 = Selfie.randomMask(tf, half, c.numPatches(), c.numMasked(),
          Selfie.maskSeed(tf, Towers.towerSeed(tf, seed, 1)));
      Selfie.Mask both = new Selfie.Mask(
          tf.concat(List.of(m0.masked(), m1.masked()), tf.constant(0)),
          tf.concat(List.of(m0.context(), m1.context()), tf.constant(0)));
      Operand<TFloat32> loss = pretrainWithMask(tf.withSubScope("reference"), vars, c, x, both,
          seed);
      // The reimplementation against Selfie.pretrain, on the first half (same mask by seed).
      Operand<TFloat32> x0 = tf.slice(x, tf.constant(new int[] {0, 0, 0, 0}),
          tf.constant(new int[] {B / 2, -1, -1, -1}));
      Operand<TFloat32> checkReimpl = pretrainWithMask(tf.withSubScope("check"), vars, c, x0, m0,
          seed);
      Operand<TFloat32> checkPretrain = Selfie.pretrain(tf.withSubScope("check_pretrain"), vars, c,
          x0, Towers.towerSeed(tf, seed, 0), false).loss();
      Optimizers.TrainOp train = Optimizers.minimize(tf, g, loss, vars, optimizer(), step);
      try (Session s = new Session(g, DataParallel.localConfig(
          new SessionConfigs.Options(1, 1, false, false), 1))) {
        s.initialize();
        try (TInt64 sd = TInt64.vectorOf(STEP_SEED); TFloat32 xs = TFloat32.tensorOf(
            StdArrays.ndCopyOf(images()));
            Result r = s.runner().feed(seed, sd).feed(x, xs).fetch(checkReimpl)
                .fetch(checkPretrain).run()) {
          halfReimpl = ((TFloat32) r.get(0)).getFloat();
          halfPretrain = ((TFloat32) r.get(1)).getFloat();
        }
        ref = steps(s, g, seed, x.asOutput(), train, loss, false);
      }
    }

    assertEquals(halfPretrain, halfReimpl, 1e-6,
        "the reference graph must compute what Selfie.pretrain computes");
    for (int i = 0; i < STEPS; i++) {
      double tol = 1e-5 * Math.max(1, Math.abs(ref.losses().get(i)));
      assertEquals(ref.losses().get(i), towers.losses().get(i), tol, "loss of step " + i);
      assertEquals(ref.losses().get(i), onHost.losses().get(i), tol, "loss of step " + i);
    }
    assertEquals(ref.after().keySet(), towers.after().keySet(), "same variables");
    assertEquals(ref.after().keySet(), onHost.after().keySet(), "same variables");
    double worst = 0;
    String worstName = "";
    double layouts = 0;
    int moved = 0;
    for (String name : ref.after().keySet()) {
      float[] a = ref.after().get(name);
      float[] t = towers.after().get(name);
      float[] h = onHost.after().get(name);
      float[] before = ref.before().get(name);
      assertTrue(PretrainFixtures.maxAbsDiff(toDouble(before), toDouble(
          towers.before().get(name))) == 0, "same initial value of " + name);
      for (int i = 0; i < a.length; i++) {
        double d = Math.abs(a[i] - t[i]) / Math.max(1, Math.abs(a[i]));
        if (d > worst) {
          worst = d;
          worstName = name;
        }
        layouts = Math.max(layouts, Math.abs(t[i] - h[i]));
      }
      if (PretrainFixtures.maxAbsDiff(toDouble(before), toDouble(a)) > 1e-4) {
        moved++;
      }
    }
    // Replicated: tower 1's copy of every variable and slot equals tower 0's bit for bit.
    int compared = 0;
    for (Map.Entry<String, float[]> e : copies.entrySet()) {
      String canonical = e.getKey().substring((Towers.replicaScope(1) + "/").length());
      float[] zero = towers.after().containsKey(canonical) ? towers.after().get(canonical)
          : towers.slots().get(canonical);
      assertTrue(zero != null, "no canonical variable for " + e.getKey());
      assertTrue(java.util.Arrays.equals(zero, e.getValue()), e.getKey() + " differs from "
          + canonical + " by " + PretrainFixtures.maxAbsDiff(toDouble(zero), toDouble(e.getValue())));
      compared++;
    }
    System.out.println("TowerEquivalenceTest: losses " + ref.losses() + " (1 tower) vs "
        + towers.losses() + " (2 towers, replicated)");
    System.out.printf("TowerEquivalenceTest: %d steps, loss %.6f (1 tower) vs %.6f (2 towers,"
            + " replicated) vs %.6f (2 towers, on host); %d variables, %d moved; max |diff| after"
            + " the steps %.3g (%s); replicated vs on host %.3g; %d replica copies identical%n",
        STEPS, ref.loss(), towers.loss(), onHost.loss(), ref.after().size(), moved, worst,
        worstName, layouts, compared);
    assertTrue(moved > ref.after().size() / 2, "the steps must move most variables: " + moved);
    assertTrue(worst < 2e-5, "2-tower steps differ from the 1-tower steps by " + worst + " in "
        + worstName);
    assertTrue(layouts < 1e-6, "replicated and on-host layouts differ by " + layouts);
    // Every trainable variable and its momentum slot has a copy (tiny: 68 trainable).
    assertTrue(compared >= 2 * moved, "replica copies compared: " + compared);

    // Gradient ops of tower i ran on device CPU:i.
    Map<String, List<String>> gradDevices = new LinkedHashMap<>();
    for (DeviceStepStats d : towers.meta().getStepStats().getDevStatsList()) {
      for (NodeExecStats n : d.getNodeStatsList()) {
        for (int i = 0; i < 2; i++) {
          if (n.getNodeName().startsWith(Towers.gradientScope(i) + "/")) {
            gradDevices.computeIfAbsent(Towers.gradientScope(i), k -> new ArrayList<>())
                .add(d.getDevice());
          }
        }
      }
    }
    for (int i = 0; i < 2; i++) {
      List<String> devs = gradDevices.get(Towers.gradientScope(i));
      assertTrue(devs != null && devs.size() > 20, "tower " + i + " gradient kernels: " + devs);
      String want = "/device:CPU:" + i;
      int tower = i;
      List<String> wrong = devs.stream().filter(dv -> !dv.endsWith(want)).distinct().toList();
      assertTrue(wrong.isEmpty(), "gradient ops of tower " + tower + " ran on " + wrong
          + ", expected " + want);
    }
    assertFalse(DataParallel.kernelDevices(towers.meta()).isEmpty());
  }

  /** {@link Selfie#pretrain} (training=false) with a given mask instead of a drawn one. */
  static Operand<TFloat32> pretrainWithMask(Ops s, VarStore vars, ModelConfig c,
      Operand<TFloat32> images, Selfie.Mask mask, Operand<TInt64> seed) {
    int n = c.numPatches();
    Operand<TFloat32> patches = Selfie.cutPatches(s, c, images);
    Operand<TFloat32> flat = s.reshape(patches,
        s.constant(new int[] {-1, c.patchSize(), c.patchSize(), c.channels()}));
    Operand<TFloat32> hFlat = Selfie.patchNetwork(s, vars, c, flat, false);
    Operand<TFloat32> context = Selfie.gatherPatches(s, hFlat, mask.context(), n);
    Operand<TFloat32> targets = Selfie.gatherPatches(s, hFlat, mask.masked(), n);
    Operand<TFloat32> u = Selfie.attentionPool(s, vars, c, context, Layers.subSeed(s, seed, 1),
        false);
    Operand<TFloat32> v = dev.selfie.graph.Queries.positionQueries(s, vars, c, u, mask.masked());
    return dev.selfie.graph.SelfieLoss.of(s, v, targets, c.temperature()).loss();
  }

  /** {@link #STEPS} steps on the same batch and seed; variables (not slots) before and after. */
  static StepOut steps(Session s, Graph g, Operand<TInt64> seed, Operand<TFloat32> images,
      Optimizers.TrainOp train, Operand<TFloat32> loss, boolean trace) {
    List<String> names = new ArrayList<>();
    List<String> slots = new ArrayList<>();
    for (var it = g.operations(); it.hasNext(); ) {
      var op = it.next();
      if (op.type().equals("VariableV2") && !op.name().equals(GlobalStep.NAME)
          && op.output(0).dataType() == org.tensorflow.proto.DataType.DT_FLOAT_REF) {
        (op.name().endsWith("/momentum") ? slots : names).add(op.name());
      }
    }
    java.util.Collections.sort(names);
    Map<String, float[]> before = read(s, g, names);
    List<Double> losses = new ArrayList<>();
    RunMetadata meta = null;
    for (int step = 0; step < STEPS; step++) {
      boolean last = step == STEPS - 1;
      try (TInt64 sd = TInt64.vectorOf(STEP_SEED);
          TFloat32 xs = TFloat32.tensorOf(StdArrays.ndCopyOf(images()))) {
        Session.Runner r = s.runner().feed(seed, sd).feed(images, xs).addTarget(train.trainOp())
            .fetch(loss);
        if (trace && last) {
          r.setOptions(RunOptions.newBuilder().setTraceLevel(RunOptions.TraceLevel.FULL_TRACE)
              .build());
        }
        try (Result res = trace && last ? r.runAndFetchMetadata() : r.run()) {
          losses.add((double) ((TFloat32) res.get(0)).getFloat());
          meta = trace && last ? res.getMetadata().orElseThrow() : null;
        }
      }
    }
    StepOut out = new StepOut(losses, before, read(s, g, names), meta, new LinkedHashMap<>());
    out.slots().putAll(read(s, g, slots));
    return out;
  }

  static Map<String, float[]> read(Session s, Graph g, List<String> names) {
    Map<String, float[]> out = new LinkedHashMap<>();
    if (names.isEmpty()) {
      return out;
    }
    Session.Runner r = s.runner();
    for (String n : names) {
      r.fetch(g.operationOrThrow(n).output(0));
    }
    try (Result res = r.run()) {
      for (int i = 0; i < names.size(); i++) {
        TFloat32 t = (TFloat32) res.get(i);
        float[] v = new float[(int) t.size()];
        t.copyTo(org.tensorflow.ndarray.NdArrays.wrap(t.shape(),
            org.tensorflow.ndarray.buffer.DataBuffers.of(v, false, false)));
        out.put(names.get(i), v);
      }
    }
    return out;
  }

  static double[] toDouble(float[] f) {
    double[] d = new double[f.length];
    for (int i = 0; i < f.length; i++) {
      d[i] = f[i];
    }
    return d;
  }
}
