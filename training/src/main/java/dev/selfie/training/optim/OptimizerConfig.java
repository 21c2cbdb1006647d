package dev.selfie.training.optim;

/**
 * How the trainable variables are updated: optimizer kind and hyper-parameters, the learning-rate
 * schedule (linear warmup then cosine decay, see {@link Schedules#warmupCosine}) and optional
 * gradient clipping. Immutable, validated on construction; serialised with the run config.
 *
 * @param kind SGD (momentum, optionally Nesterov) or ADAM
 * @param baseLr peak learning rate, reached at the end of warmup
 * @param momentum SGD momentum coefficient in [0, 1)
 * @param nesterov SGD: Nesterov momentum
 * @param weightDecay weight decay coefficient on {@code Kind.KERNEL} variables only (conv and
 *     dense kernels), applied as {@code weightDecayType} says; 0 disables it
 * @param warmupSteps steps of linear warmup, 0 &lt;= warmupSteps &lt; totalSteps (0: none)
 * @param totalSteps step at which the cosine reaches 0
 * @param beta1 Adam first-moment decay in [0, 1)
 * @param beta2 Adam second-moment decay in [0, 1)
 * @param epsilon Adam epsilon &gt; 0
 * @param clipGlobalNorm clip the gradients to this global L2 norm; 0 disables clipping
 * @param weightDecayType {@link WeightDecayType#DECOUPLED} (the default, also for configs written
 *     before this field existed, where it is absent: null reads as DECOUPLED) or {@link
 *     WeightDecayType#L2}
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
    double clipGlobalNorm,
    WeightDecayType weightDecayType) {

  /** Optimizer kind. */
  public enum Kind {
    SGD,
    ADAM
  }

  /**
   * How {@code weightDecay} (wd) acts on a kernel w, with learning rate lr of the step.
   */
  public enum WeightDecayType {
    /**
     * Decoupled: {@code w <- w - lr*wd*w} before the optimizer update, outside the gradient and
     * the momentum (AdamW-style). With SGD momentum 0.9 it is about 10x weaker than {@link #L2}
     * of the same wd, which momentum amplifies by 1/(1 - 0.9). The default.
     */
    DECOUPLED,
    /**
     * L2 regularisation: {@code grad <- grad + wd*w} (the gradient of {@code wd/2 * |w|^2} added
     * to the loss) before clipping and before the momentum/Adam update, so it goes through the
     * momentum: the classic ResNet/SGD weight decay of DESIGN's "weight decay 1e-4, momentum 0.9".
     */
    L2;

    /** The CLI spelling. */
    public String flagValue() {
      return name().toLowerCase(java.util.Locale.ROOT);
    }

    /** Parses {@code l2} or {@code decoupled} (any case); the error names the flag. */
    public static WeightDecayType parse(String value) {
      if (value != null) {
        for (WeightDecayType t : values()) {
          if (t.flagValue().equalsIgnoreCase(value.trim())) {
            return t;
          }
        }
      }
      throw new IllegalArgumentException(
          "--weight-decay-type must be l2 or decoupled, got " + value);
    }
  }

  /** Before {@code weightDecayType} existed: decoupled weight decay. */
  public OptimizerConfig(Kind kind, double baseLr, double momentum, boolean nesterov,
      double weightDecay, long warmupSteps, long totalSteps, double beta1, double beta2,
      double epsilon, double clipGlobalNorm) {
    this(kind, baseLr, momentum, nesterov, weightDecay, warmupSteps, totalSteps, beta1, beta2,
        epsilon, clipGlobalNorm, WeightDecayType.DECOUPLED);
  }

  public OptimizerConfig {
    if (weightDecayType == null) {
      weightDecayType = WeightDecayType.DECOUPLED; // config.json written before the field existed
    }
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
        beta1, beta2, epsilon, clipGlobalNorm, weightDecayType);
  }

  public OptimizerConfig withWeightDecayType(WeightDecayType type) {
    return new OptimizerConfig(kind, baseLr, momentum, nesterov, weightDecay, warmupSteps,
        totalSteps, beta1, beta2, epsilon, clipGlobalNorm, type);
  }

  public OptimizerConfig withClipGlobalNorm(double clip) {
    return new OptimizerConfig(kind, baseLr, momentum, nesterov, weightDecay, warmupSteps,
        totalSteps, beta1, beta2, epsilon, clip, weightDecayType);
  }

  public OptimizerConfig withMomentum(double m, boolean useNesterov) {
    return new OptimizerConfig(kind, baseLr, m, useNesterov, weightDecay, warmupSteps, totalSteps,
        beta1, beta2, epsilon, clipGlobalNorm, weightDecayType);
  }

  private static void check(boolean ok, String message) {
    if (!ok) {
      throw new IllegalArgumentException("optimizer config: " + message);
    }
  }
}
