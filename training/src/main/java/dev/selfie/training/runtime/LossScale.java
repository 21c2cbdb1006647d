package dev.selfie.training.runtime;

import dev.selfie.graph.VarStore;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Op;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TBool;
import org.tensorflow.types.TFloat32;

/**
 * Dynamic loss scaling for float16 training, inside the training op: the loss is multiplied by
 * the scale S before differentiation (so small float16 gradients do not flush to zero), the
 * gradients are divided by S in float32, and then
 *
 * <ul>
 *   <li>if every gradient is finite: the update is applied and the counter of finite steps grows;
 *       after {@code growthInterval} finite steps in a row, S doubles and the counter restarts;
 *   <li>otherwise (an inf/NaN, i.e. float16 overflow): the update is skipped (variables and
 *       optimizer slots unchanged, the global step still advances), S halves (not below 1) and
 *       the counter restarts.
 * </ul>
 *
 * <p>S and the counter are STATE variables {@value #SCALE} and {@value #GOOD_STEPS} of the
 * {@link VarStore}, so checkpoints save them and a resumed run continues with its scale.
 */
public final class LossScale {
  private LossScale() {}

  /** Variable name of the scale S. */
  public static final String SCALE = "loss_scale/scale";

  /** Variable name of the count of finite steps since S last changed. */
  public static final String GOOD_STEPS = "loss_scale/good_steps";

  /**
   * @param initialScale S at step 0 (a power of two)
   * @param growthInterval finite steps in a row before S doubles
   */
  public record Config(float initialScale, long growthInterval) {
    public Config {
      if (!(initialScale >= 1) || Float.isInfinite(initialScale)) {
        throw new IllegalArgumentException("loss scale must be finite and >= 1, got "
            + initialScale);
      }
      if (growthInterval < 1) {
        throw new IllegalArgumentException("loss scale growth interval must be >= 1, got "
            + growthInterval);
      }
    }

    /** Keras' LossScaleOptimizer defaults: 2^15, doubling after 2000 finite steps. */
    public static Config defaults() {
      return new Config(32768f, 2000);
    }
  }

  /**
   * The state of one graph.
   *
   * @param scale {@code []} S as read at the start of the step
   * @param goodSteps {@code []} finite steps since S last changed, read at the start of the step
   */
  public record State(Config config, VarStore.Entry scaleVar, VarStore.Entry goodVar,
      Operand<TFloat32> scale, Operand<TFloat32> goodSteps) {}

  /** Creates the two state variables in {@code vars}. */
  public static State create(VarStore vars, Config c) {
    vars.variable(SCALE, Shape.scalar(), VarStore.Kind.STATE,
        (init, shape) -> init.constant(c.initialScale()));
    vars.variable(GOOD_STEPS, Shape.scalar(), VarStore.Kind.STATE,
        (init, shape) -> init.constant(0f));
    VarStore.Entry s = vars.get(SCALE);
    VarStore.Entry g = vars.get(GOOD_STEPS);
    return new State(c, s, g, s.value(), g.value());
  }

  /** {@code []} loss times S. */
  public static Operand<TFloat32> scaleLoss(Ops tf, Operand<TFloat32> loss, State s) {
    return tf.withSubScope("loss_scale").math.mul(loss, s.scale());
  }

  /** Each gradient divided by S (same shapes). */
  public static List<Operand<TFloat32>> unscale(Ops tf, List<Operand<TFloat32>> grads, State s) {
    Ops ls = tf.withSubScope("loss_scale");
    Operand<TFloat32> inv = ls.math.reciprocal(s.scale());
    return grads.stream().map(g -> (Operand<TFloat32>) ls.math.mul(g, inv)).toList();
  }

  /** {@code []} true iff every element of every gradient is finite. */
  public static Operand<TBool> allFinite(Ops tf, List<Operand<TFloat32>> grads) {
    Ops ls = tf.withSubScope("loss_scale");
    Operand<TBool> all = null;
    for (Operand<TFloat32> g : grads) {
      Operand<TBool> f = ls.reduceAll(ls.math.isFinite(g),
          ls.range(ls.constant(0), ls.rank(g), ls.constant(1)));
      all = all == null ? f : ls.math.logicalAnd(all, f);
    }
    return all;
  }

  /** {@code select(finite, a, b)} for scalars {@code []}. */
  public static Operand<TFloat32> where(Ops tf, Operand<TBool> finite, Operand<TFloat32> a,
      Operand<TFloat32> b) {
    return tf.select(finite, a, b);
  }

  /** Gradient {@code g} where {@code finite}, else zeros of its shape (no 0 * inf = NaN). */
  public static Operand<TFloat32> zeroUnlessFinite(Ops tf, Operand<TBool> finite,
      Operand<TFloat32> g) {
    return tf.select(finite, g, tf.zerosLike(g));
  }

  /**
   * Assigns the new S and counter: grow after {@code growthInterval} finite steps, halve (not
   * below 1) on a non-finite step. Build it with control dependencies on the gradients.
   */
  public static List<Op> update(Ops tf, State s, Operand<TBool> finite) {
    Ops ls = tf.withSubScope("loss_scale");
    Operand<TFloat32> next = ls.math.add(s.goodSteps(), ls.constant(1f));
    Operand<TBool> grow = ls.math.greaterEqual(next,
        ls.constant((float) s.config().growthInterval()));
    Operand<TFloat32> grown = ls.select(grow, ls.math.mul(s.scale(), ls.constant(2f)), s.scale());
    Operand<TFloat32> halved = ls.math.maximum(ls.math.mul(s.scale(), ls.constant(0.5f)),
        ls.constant(1f));
    Operand<TFloat32> newScale = ls.select(finite, grown, halved);
    Operand<TFloat32> newGood = ls.select(finite,
        ls.select(grow, ls.constant(0f), next), ls.constant(0f));
    return List.of(ls.assign(s.scaleVar().variable(), newScale),
        ls.assign(s.goodVar().variable(), newGood));
  }
}
