package dev.selfie.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.selfie.graph.Layers;
import dev.selfie.graph.ModelConfig;
import dev.selfie.graph.Selfie;
import dev.selfie.graph.VarStore;
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
 * One synchronous data-parallel step with K=2 towers on 2 virtual CPU devices equals one
 * single-tower step on the combined batch, from the same initial weights (tiny preset, batch 4,
 * SGD-Nesterov with weight decay). BN is frozen (inference mode, {@code training=false}): with
 * batch statistics each tower normalises its own 2 images, which is by design not the statistics
 * of the 4. Dropout is off with it.
 *
 * <p>Masking is random per tower ({@link Towers#towerSeed}); the reference is the pretraining
 * graph of {@link Selfie#pretrain} written out from its public pieces, on all 4 images, with the
 * towers' two masks concatenated. A check inside the reference graph shows that this
 * reimplementation equals {@code Selfie.pretrain} on one half.
 *
 * <p>Also checked from the step's trace: every gradient op of tower i ran on CPU:i.
 */
class TowerEquivalenceTest {
  static final int B = 4;
  static final long INIT_SEED = 7;
  static final long[] STEP_SEED = {11, 0};

  static ModelConfig model() {
    return ModelConfig.preset("tiny").withData(3, 10);
  }

  static OptimizerConfig optimizer() {
    return OptimizerConfig.sgd(0.1, 0, 10).withWeightDecay(1e-3);
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

  record StepOut(double loss, Map<String, float[]> before, Map<String, float[]> after,
      RunMetadata meta) {}

  @Test
  void twoTowersEqualOneTowerOnTheCombinedBatch() {
    ModelConfig c = model();
    Towers.Placement placement = Towers.Placement.local(2, false);
    StepOut towers;
    DataParallel.Built b = DataParallel.buildPretrain(c, optimizer(), INIT_SEED, placement,
        tf -> Towers.Input.floats(tf.withName("images").placeholder(TFloat32.class,
            Placeholder.shape(Shape.of(B, 32, 32, 3)))), false);
    try (Graph g = b.graph();
        Session s = new Session(g, DataParallel.localConfig(
            new SessionConfigs.Options(1, 1, false, false), 2))) {
      s.initialize();
      towers = step(s, g, b.seed(), g.operationOrThrow("images").output(0), b.train(), b.loss(),
          true);
    }

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
        ref = step(s, g, seed, x.asOutput(), train, loss, false);
      }
    }

    assertEquals(halfPretrain, halfReimpl, 1e-6,
        "the reference graph must compute what Selfie.pretrain computes");
    assertEquals(ref.loss(), towers.loss(), 1e-5, "loss of the step");
    assertEquals(ref.after().keySet(), towers.after().keySet(), "same variables");
    double worst = 0;
    String worstName = "";
    int moved = 0;
    for (String name : ref.after().keySet()) {
      float[] a = ref.after().get(name);
      float[] t = towers.after().get(name);
      float[] before = ref.before().get(name);
      assertTrue(PretrainFixtures.maxAbsDiff(toDouble(before), toDouble(
          towers.before().get(name))) == 0, "same initial value of " + name);
      for (int i = 0; i < a.length; i++) {
        double d = Math.abs(a[i] - t[i]) / Math.max(1, Math.abs(a[i]));
        if (d > worst) {
          worst = d;
          worstName = name;
        }
      }
      if (PretrainFixtures.maxAbsDiff(toDouble(before), toDouble(a)) > 1e-4) {
        moved++;
      }
    }
    System.out.printf("TowerEquivalenceTest: loss %.6f (1 tower) vs %.6f (2 towers); %d variables,"
            + " %d moved by the step; max |diff| after the step %.3g (%s)%n", ref.loss(),
        towers.loss(), ref.after().size(), moved, worst, worstName);
    assertTrue(moved > ref.after().size() / 2, "the step must move most variables: " + moved);
    assertTrue(worst < 2e-5, "2-tower step differs from the 1-tower step by " + worst + " in "
        + worstName);

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
    Operand<TFloat32> v = Selfie.positionQueries(s, vars, c, u, mask.masked());
    return Selfie.selfieLoss(s, v, targets, c.temperature()).loss();
  }

  static StepOut step(Session s, Graph g, Operand<TInt64> seed, Operand<TFloat32> images,
      Optimizers.TrainOp train, Operand<TFloat32> loss, boolean trace) {
    List<String> names = new ArrayList<>();
    for (var it = g.operations(); it.hasNext(); ) {
      var op = it.next();
      if (op.type().equals("VariableV2") && !op.name().equals(GlobalStep.NAME)
          && !op.name().endsWith("/momentum") && op.output(0).dataType()
          == org.tensorflow.proto.DataType.DT_FLOAT_REF) {
        names.add(op.name());
      }
    }
    java.util.Collections.sort(names);
    Map<String, float[]> before = read(s, g, names);
    double l;
    RunMetadata meta = null;
    try (TInt64 sd = TInt64.vectorOf(STEP_SEED);
        TFloat32 xs = TFloat32.tensorOf(StdArrays.ndCopyOf(images()))) {
      Session.Runner r = s.runner().feed(seed, sd).feed(images, xs).addTarget(train.trainOp())
          .fetch(loss);
      if (trace) {
        r.setOptions(RunOptions.newBuilder().setTraceLevel(RunOptions.TraceLevel.FULL_TRACE)
            .build());
      }
      try (Result res = trace ? r.runAndFetchMetadata() : r.run()) {
        l = ((TFloat32) res.get(0)).getFloat();
        meta = trace ? res.getMetadata().orElseThrow() : null;
      }
    }
    return new StepOut(l, before, read(s, g, names), meta);
  }

  static Map<String, float[]> read(Session s, Graph g, List<String> names) {
    Map<String, float[]> out = new LinkedHashMap<>();
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
