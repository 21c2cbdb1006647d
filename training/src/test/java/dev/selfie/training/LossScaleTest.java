package dev.selfie.training;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.selfie.graph.VarStore;
import dev.selfie.training.loop.GlobalStep;
import dev.selfie.training.optim.OptimizerConfig;
import dev.selfie.training.optim.Optimizers;
import dev.selfie.training.runtime.LossScale;
import dev.selfie.training.runtime.Precision;
import dev.selfie.training.runtime.SessionConfigs;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;

/**
 * Dynamic loss scaling ({@link LossScale}) in the training op: a step with a non-finite gradient
 * changes no variable or slot and halves the scale; finite steps apply the same update as without
 * scaling and double the scale after the growth interval; float16 overflow is caught in a float16
 * session emulated on the CPU ({@code auto_mixed_precision_cpu}), so this runs without a GPU.
 */
class LossScaleTest {

  /** loss = sum(x [1, 2] . w [2, 2]), w starting at ones; SGD-Nesterov lr 0.1, wd 1e-4. */
  static final class Model implements AutoCloseable {
    final Graph g = new Graph();
    final Ops tf = Ops.create(g);
    final VarStore vars = new VarStore(Ops.create(g), 1);
    final Placeholder<TFloat32> x =
        tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(1, 2)));
    final Optimizers.TrainOp op;
    final Operand<TFloat32> loss;

    Model(LossScale.Config ls) {
      this(ls, OptimizerConfig.sgd(0.1, 0, 100).withWeightDecay(1e-4), null);
    }

    Model(LossScale.Config ls, OptimizerConfig c, Optimizers.Layerwise layerwise) {
      Operand<TFloat32> w = vars.variable("w", Shape.of(2, 2), VarStore.Kind.KERNEL,
          (init, shape) -> init.fill(init.constant(new int[] {2, 2}), init.constant(1f)));
      // Through an identity: grappler keeps fetched nodes in float32.
      loss = tf.identity(tf.reduceSum(tf.linalg.matMul(x, vars.get("w").value()),
          tf.constant(new int[] {0, 1})));
      GlobalStep step = GlobalStep.create(tf);
      op = Optimizers.minimize(tf, g, loss, vars, c, step, layerwise, ls);
    }

    Session session(Precision p) {
      Session s = new Session(g, SessionConfigs.configProto(
          new SessionConfigs.Options(1, 1, false, false, p)));
      s.initialize();
      return s;
    }

    void step(Session s, float x0, float x1) {
      try (TFloat32 in = TFloat32.tensorOf(Shape.of(1, 2),
              d -> d.copyFrom(DataBuffers.of(x0, x1)));
          Result r = s.runner().feed(x, in).addTarget(op.trainOp()).run()) {
        // nothing fetched
      }
    }

    float[] read(Session s, String name) {
      VarStore.Entry e = name.equals("global_step") ? null : vars.get(name);
      try (Result r = s.runner().fetch(e == null ? g.operation("global_step").output(0)
          : e.value()).run()) {
        if (e == null) {
          return new float[] {((org.tensorflow.types.TInt64) r.get(0)).getLong()};
        }
        TFloat32 t = (TFloat32) r.get(0);
        float[] out = new float[(int) t.shape().size()];
        t.copyTo(DataBuffers.of(out));
        return out;
      }
    }

    @Override
    public void close() {
      g.close();
    }
  }

  @Test
  void infGradientSkipsTheUpdateAndHalvesTheScale() {
    try (Model scaled = new Model(new LossScale.Config(4f, 2));
        Model plain = new Model(null);
        Session s = scaled.session(Precision.FLOAT32);
        Session p = plain.session(Precision.FLOAT32)) {
      // Step 1, finite: the same update as without loss scaling (the gradient is unscaled).
      scaled.step(s, 1f, 2f);
      plain.step(p, 1f, 2f);
      assertArrayEquals(plain.read(p, "w"), scaled.read(s, "w"), 1e-6f);
      assertArrayEquals(plain.read(p, "w/momentum"), scaled.read(s, "w/momentum"), 1e-6f);
      assertEquals(4f, scaled.read(s, LossScale.SCALE)[0]);
      assertEquals(1f, scaled.read(s, LossScale.GOOD_STEPS)[0]);
      float[] w1 = scaled.read(s, "w");
      float[] m1 = scaled.read(s, "w/momentum");

      // Step 2: an inf input gives inf gradients: skipped, scale halved, counter reset.
      scaled.step(s, Float.POSITIVE_INFINITY, 2f);
      assertArrayEquals(w1, scaled.read(s, "w"), "weights must not change on a skipped step");
      assertArrayEquals(m1, scaled.read(s, "w/momentum"), "momentum must not change either");
      assertEquals(2f, scaled.read(s, LossScale.SCALE)[0]);
      assertEquals(0f, scaled.read(s, LossScale.GOOD_STEPS)[0]);
      assertEquals(2f, scaled.read(s, "global_step")[0], "the step still counts");

      // A NaN is skipped too.
      scaled.step(s, Float.NaN, 2f);
      assertArrayEquals(w1, scaled.read(s, "w"));
      assertEquals(1f, scaled.read(s, LossScale.SCALE)[0]);
      scaled.step(s, Float.NaN, 2f);
      assertEquals(1f, scaled.read(s, LossScale.SCALE)[0], "never below 1");

      // Two finite steps in a row (the growth interval): the scale doubles, the counter restarts.
      scaled.step(s, 1f, 2f);
      assertEquals(1f, scaled.read(s, LossScale.SCALE)[0]);
      assertFalse(java.util.Arrays.equals(w1, scaled.read(s, "w")), "finite step applied");
      scaled.step(s, 1f, 2f);
      assertEquals(2f, scaled.read(s, LossScale.SCALE)[0]);
      assertEquals(0f, scaled.read(s, LossScale.GOOD_STEPS)[0]);
    }
  }

  /**
   * Loss scaling composes with L2 weight decay and a layer-wise treatment: the decay term and the
   * gate/lr scale act on the unscaled gradient (same updates as without scaling), and a skipped
   * step leaves weights and momentum as they were, L2 term included.
   */
  @Test
  void scalingComposesWithL2DecayAndLayerwise() {
    OptimizerConfig c = OptimizerConfig.sgd(0.1, 0, 100).withWeightDecay(0.05)
        .withWeightDecayType(OptimizerConfig.WeightDecayType.L2);
    Optimizers.Layerwise lw = new Optimizers.Layerwise(java.util.Set.of("w"), 0.5, 1);
    try (Model scaled = new Model(new LossScale.Config(8f, 100), c, lw);
        Model plain = new Model(null, c, lw);
        Session s = scaled.session(Precision.FLOAT32);
        Session p = plain.session(Precision.FLOAT32)) {
      float[] w0 = plain.read(p, "w");
      // Step 0: frozen (head first) in both.
      scaled.step(s, 1f, 2f);
      plain.step(p, 1f, 2f);
      assertArrayEquals(w0, scaled.read(s, "w"));
      assertArrayEquals(w0, plain.read(p, "w"));
      // Steps 1, 2: trained at half the lr with the L2 term, the same with and without scaling.
      for (int i = 0; i < 2; i++) {
        scaled.step(s, 1f, 2f);
        plain.step(p, 1f, 2f);
        assertArrayEquals(plain.read(p, "w"), scaled.read(s, "w"), 1e-5f);
        assertArrayEquals(plain.read(p, "w/momentum"), scaled.read(s, "w/momentum"), 1e-5f);
      }
      assertFalse(java.util.Arrays.equals(w0, plain.read(p, "w")));
      float[] w2 = scaled.read(s, "w");
      float[] m2 = scaled.read(s, "w/momentum");
      scaled.step(s, Float.POSITIVE_INFINITY, 2f);
      assertArrayEquals(w2, scaled.read(s, "w"), "skipped step: no update, no L2 term");
      assertArrayEquals(m2, scaled.read(s, "w/momentum"));
      assertEquals(4f, scaled.read(s, LossScale.SCALE)[0]);
    }
  }

  @Test
  void scaleAndCounterAreCheckpointedStateVariables() {
    try (Model m = new Model(LossScale.Config.defaults())) {
      List<String> state = m.vars.state().stream().map(VarStore.Entry::name).toList();
      assertTrue(state.containsAll(List.of(LossScale.SCALE, LossScale.GOOD_STEPS)),
          state.toString());
      assertTrue(m.vars.trainable().stream().noneMatch(e -> e.name().startsWith("loss_scale")));
    }
  }

  /**
   * float16 overflow, emulated on the CPU: x = 300 and scale 2^15 make the weight gradient
   * 300 * 2^15 ~ 9.8e6, beyond float16's 65504 but fine in float32. The float16 session skips
   * the step and halves the scale; the float32 session applies it.
   */
  @Test
  void float16OverflowIsSkippedInAnEmulatedFloat16Session() {
    try (Model f16 = new Model(new LossScale.Config(32768f, 1000));
        Model f32 = new Model(new LossScale.Config(32768f, 1000));
        Session h = f16.session(Precision.FLOAT16);
        Session s = f32.session(Precision.FLOAT32)) {
      float[] w0 = f16.read(h, "w");
      f16.step(h, 300f, 300f);
      f32.step(s, 300f, 300f);
      assertEquals(32768f, f32.read(s, LossScale.SCALE)[0], "finite in float32");
      assertFalse(java.util.Arrays.equals(w0, f32.read(s, "w")));
      assertEquals(16384f, f16.read(h, LossScale.SCALE)[0], "float16 gradient overflowed");
      assertArrayEquals(w0, f16.read(h, "w"));
      // Halving until 300 * scale fits in float16 (scale <= 128): 7 more skipped steps, then
      // the update goes through.
      for (int i = 0; i < 8; i++) {
        f16.step(h, 300f, 300f);
      }
      assertEquals(128f, f16.read(h, LossScale.SCALE)[0]);
      assertFalse(java.util.Arrays.equals(w0, f16.read(h, "w")), "the update went through");
    }
  }
}
