package dev.selfie.training.optim;

import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt64;

/** Learning-rate schedules as graph operands computed from the global step. */
public final class Schedules {
  private Schedules() {}

  /**
   * Linear warmup then cosine decay, as a scalar {@code []} float operand.
   *
   * <p>For the 0-based step {@code s} (number of updates already applied): if {@code s < warmup},
   * {@code lr = base * (s + 1) / warmup} (so the first update uses {@code base/warmup}, never 0,
   * and step {@code warmup-1} uses {@code base}); else {@code lr = base * 0.5 * (1 + cos(pi * p))}
   * with {@code p = min(1, (s - warmup) / (total - warmup))}: {@code base} at the end of warmup,
   * 0 at {@code total} and after.
   *
   * @param step scalar int64 global step {@code []}
   * @return scalar float learning rate {@code []}
   */
  public static Operand<TFloat32> warmupCosine(
      Ops tf, Operand<TInt64> step, double baseLr, long warmupSteps, long totalSteps) {
    checkArgs(baseLr, warmupSteps, totalSteps);
    Ops s = tf.withSubScope("warmup_cosine");
    Operand<TFloat32> t = s.dtypes.cast(step, TFloat32.class);
    Operand<TFloat32> base = s.constant((float) baseLr);
    Operand<TFloat32> one = s.constant(1f);
    Operand<TFloat32> zero = s.constant(0f);
    float decaySteps = (float) (totalSteps - warmupSteps);
    Operand<TFloat32> progress =
        s.math.minimum(one, s.math.maximum(zero,
            s.math.div(s.math.sub(t, s.constant((float) warmupSteps)), s.constant(decaySteps))));
    Operand<TFloat32> cosine =
        s.math.mul(base, s.math.mul(s.constant(0.5f),
            s.math.add(one, s.math.cos(s.math.mul(s.constant((float) Math.PI), progress)))));
    if (warmupSteps == 0) {
      return s.identity(cosine);
    }
    Operand<TFloat32> warm =
        s.math.mul(base, s.math.div(s.math.add(t, one), s.constant((float) warmupSteps)));
    return s.select(s.math.less(t, s.constant((float) warmupSteps)), warm, cosine);
  }

  /** The same schedule in Java doubles (for logging, tests and hand-recomputed updates). */
  public static double warmupCosine(long step, double baseLr, long warmupSteps, long totalSteps) {
    checkArgs(baseLr, warmupSteps, totalSteps);
    if (step < warmupSteps) {
      return baseLr * (step + 1) / warmupSteps;
    }
    double p = Math.min(1, Math.max(0, (double) (step - warmupSteps) / (totalSteps - warmupSteps)));
    return baseLr * 0.5 * (1 + Math.cos(Math.PI * p));
  }

  private static void checkArgs(double baseLr, long warmupSteps, long totalSteps) {
    if (!(baseLr > 0) || warmupSteps < 0 || totalSteps <= warmupSteps) {
      throw new IllegalArgumentException(
          "warmupCosine needs baseLr > 0 and 0 <= warmup < total, got baseLr=" + baseLr
              + " warmup=" + warmupSteps + " total=" + totalSteps);
    }
  }
}
