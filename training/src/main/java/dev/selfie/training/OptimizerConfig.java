package dev.selfie.training;

/**
 * How the trainable variables are updated: optimizer kind and hyper-parameters, the learning-rate
 * schedule (linear warmup then cosine decay, see {@link Schedules#warmupCosine}) and optional
 * gradient clipping. Immutable, validated on construction; serialised with the run config.
 *
 * @param kind SGD (momentum, optionally Nesterov) or ADAM
 * @param baseLr peak learning rate, reached at the end of warmup
 * @param momentum SGD momentum coefficient in [0, 1)
 * @param nesterov SGD: Nesterov momentum
 * @param weightDecay decoupled weight decay on {@code Kind.KERNEL} variables only ({@code w <- w -
 *     lr*wd*w} before the update); 0 disables it
 * @param warmupSteps steps of linear warmup, 0 &lt;= warmupSteps &lt; totalSteps (0: none)
 * @param totalSteps step at which the cosine reaches 0
 * @param beta1 Adam first-moment decay in [0, 1)
 * @param beta2 Adam second-moment decay in [0, 1)
 * @param epsilon Adam epsilon &gt; 0
 * @param clipGlobalNorm clip the gradients to this global L2 norm; 0 disables clipping
 */
public record OptimizerConfig(
    Kind kind,
    double baseLr,
    double momentum,
    boolean nesterov,
    double weightDecay,
    long warmupSteps,
    long totalSteps,
    double beta1,
    double beta2,
    double epsilon,
    double clipGlobalNorm) {

  /** Optimizer kind. */
  public enum Kind {
    SGD,
    ADAM
  }

  public OptimizerConfig {
    if (kind == null) {
      throw new IllegalArgumentException("optimizer kind must be SGD or ADAM, got null");
    }
    check(baseLr > 0 && Double.isFinite(baseLr), "baseLr must be > 0, got " + baseLr);
    check(momentum >= 0 && momentum < 1, "momentum must be in [0, 1), got " + momentum);
    check(weightDecay >= 0 && Double.isFinite(weightDecay),
        "weightDecay must be >= 0, got " + weightDecay);
    check(totalSteps > 0, "totalSteps must be > 0, got " + totalSteps);
    check(warmupSteps >= 0 && warmupSteps < totalSteps,
        "warmupSteps must be in [0, totalSteps=" + totalSteps + "), got " + warmupSteps);
    check(beta1 >= 0 && beta1 < 1, "beta1 must be in [0, 1), got " + beta1);
    check(beta2 >= 0 && beta2 < 1, "beta2 must be in [0, 1), got " + beta2);
    check(epsilon > 0, "epsilon must be > 0, got " + epsilon);
    check(clipGlobalNorm >= 0 && Double.isFinite(clipGlobalNorm),
        "clipGlobalNorm must be >= 0 (0 = no clipping), got " + clipGlobalNorm);
  }

  /** SGD, Nesterov momentum 0.9, weight decay 1e-4 (DESIGN.md defaults), no clipping. */
  public static OptimizerConfig sgd(double baseLr, long warmupSteps, long totalSteps) {
    return new OptimizerConfig(
        Kind.SGD, baseLr, 0.9, true, 1e-4, warmupSteps, totalSteps, 0.9, 0.999, 1e-8, 0);
  }

  /** Adam (beta1 0.9, beta2 0.999, eps 1e-8), decoupled weight decay 1e-4, no clipping. */
  public static OptimizerConfig adam(double baseLr, long warmupSteps, long totalSteps) {
    return new OptimizerConfig(
        Kind.ADAM, baseLr, 0.9, true, 1e-4, warmupSteps, totalSteps, 0.9, 0.999, 1e-8, 0);
  }

  public OptimizerConfig withWeightDecay(double wd) {
    return new OptimizerConfig(kind, baseLr, momentum, nesterov, wd, warmupSteps, totalSteps,
        beta1, beta2, epsilon, clipGlobalNorm);
  }

  public OptimizerConfig withClipGlobalNorm(double clip) {
    return new OptimizerConfig(kind, baseLr, momentum, nesterov, weightDecay, warmupSteps,
        totalSteps, beta1, beta2, epsilon, clip);
  }

  public OptimizerConfig withMomentum(double m, boolean useNesterov) {
    return new OptimizerConfig(kind, baseLr, m, useNesterov, weightDecay, warmupSteps, totalSteps,
        beta1, beta2, epsilon, clipGlobalNorm);
  }

  private static void check(boolean ok, String message) {
    if (!ok) {
      throw new IllegalArgumentException("optimizer config: " + message);
    }
  }
}
