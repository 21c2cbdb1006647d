package dev.selfie.training.options;

import dev.selfie.training.optim.OptimizerConfig;
import java.util.Locale;

/**
 * How long a run trains and how its weights move: the optimizer, the learning-rate schedule
 * (linear warmup, then cosine decay to the last step), weight decay and gradient clipping.
 *
 * @param steps {@code --steps}: training steps of the run
 * @param optimizer {@code --optimizer}: sgd (Nesterov momentum) or adam
 * @param lr {@code --lr}: the base (peak) learning rate
 * @param warmup {@code --warmup}: linear warmup steps, capped at a tenth of the steps
 * @param weightDecay {@code --weight-decay}: coefficient on conv/dense kernels (0 = none)
 * @param weightDecayType {@code --weight-decay-type} (null: decoupled)
 * @param clipNorm {@code --clip-norm}: scale the gradients down to this global L2 norm when it is
 *     exceeded (0 = no clipping)
 * @param epochs {@code --epochs}: the run's length in passes over its training images instead of
 *     {@code steps} (0 = use {@code steps}); the job turns it into steps once it knows how many
 *     images it trains on ({@link #forExamples})
 */
public record ScheduleOptions(
    long steps,
    String optimizer,
    double lr,
    long warmup,
    double weightDecay,
    OptimizerConfig.WeightDecayType weightDecayType,
    double clipNorm,
    double epochs) {

  public ScheduleOptions {
    if (weightDecayType == null) {
      weightDecayType = OptimizerConfig.WeightDecayType.DECOUPLED;
    }
    if (steps < 1) {
      throw new IllegalArgumentException("--steps must be >= 1, got " + steps);
    }
    checkClipNorm(clipNorm);
    if (!(epochs >= 0) || !Double.isFinite(epochs)) {
      throw new IllegalArgumentException(
          "--epochs must be a finite number >= 0 (0 = use --steps), got " + epochs);
    }
  }

  /**
   * Refuses a {@code --clip-norm} that is negative or not finite (every job that clips checks it
   * here, with the same message).
   */
  public static void checkClipNorm(double clipNorm) {
    if (!(clipNorm >= 0) || !Double.isFinite(clipNorm)) {
      throw new IllegalArgumentException(
          "--clip-norm must be a finite number >= 0 (0 = no clipping), got " + clipNorm);
    }
  }

  /**
   * The defaults of {@code selfie pretrain}: 2000 steps of SGD-Nesterov at lr 0.1 after 200
   * warmup steps, decoupled weight decay 1e-4, no clipping.
   */
  public static ScheduleOptions defaults() {
    return new ScheduleOptions(2000, "sgd", 0.1, 200, 1e-4,
        OptimizerConfig.WeightDecayType.DECOUPLED, 0, 0);
  }

  public ScheduleOptions withSteps(long n) {
    return new ScheduleOptions(n, optimizer, lr, warmup, weightDecay, weightDecayType, clipNorm,
        epochs);
  }

  public ScheduleOptions withOptimizer(String o) {
    return new ScheduleOptions(steps, o, lr, warmup, weightDecay, weightDecayType, clipNorm,
        epochs);
  }

  public ScheduleOptions withLr(double x) {
    return new ScheduleOptions(steps, optimizer, x, warmup, weightDecay, weightDecayType, clipNorm,
        epochs);
  }

  public ScheduleOptions withWarmup(long n) {
    return new ScheduleOptions(steps, optimizer, lr, n, weightDecay, weightDecayType, clipNorm,
        epochs);
  }

  /** Weight decay {@code wd} acting as {@code type} says (null: decoupled). */
  public ScheduleOptions withWeightDecay(double wd, OptimizerConfig.WeightDecayType type) {
    return new ScheduleOptions(steps, optimizer, lr, warmup, wd, type, clipNorm, epochs);
  }

  public ScheduleOptions withClipNorm(double x) {
    return new ScheduleOptions(steps, optimizer, lr, warmup, weightDecay, weightDecayType, x,
        epochs);
  }

  /** {@code e} passes over the training images instead of {@link #steps} (0 = use the steps). */
  public ScheduleOptions withEpochs(double e) {
    return new ScheduleOptions(steps, optimizer, lr, warmup, weightDecay, weightDecayType, clipNorm,
        e);
  }

  /**
   * The options of a run over {@code examples} training images at {@code batchSize} per step:
   * with {@code --epochs E}, {@code ceil(E * examples / batchSize)} steps (at least 1); without,
   * these options unchanged.
   */
  public ScheduleOptions forExamples(long examples, int batchSize) {
    if (epochs == 0) {
      return this;
    }
    return withSteps(Math.max(1, (long) Math.ceil(epochs * examples / batchSize)));
  }

  /** The optimizer config these options stand for; fails naming {@code --optimizer}. */
  public OptimizerConfig optimizerConfig() {
    return optimizer(optimizer, lr, warmup, steps, weightDecay)
        .withWeightDecayType(weightDecayType).withClipGlobalNorm(clipNorm);
  }

  /**
   * {@code kind} (sgd or adam) at base learning rate {@code lr} with weight decay {@code wd},
   * warming up for {@code warmup} steps but at most a tenth of {@code steps}.
   */
  public static OptimizerConfig optimizer(String kind, double lr, long warmup, long steps,
      double wd) {
    OptimizerConfig opt = switch (kind.toLowerCase(Locale.ROOT)) {
      case "sgd" -> OptimizerConfig.sgd(lr, Math.min(warmup, steps / 10), steps);
      case "adam" -> OptimizerConfig.adam(lr, Math.min(warmup, steps / 10), steps);
      default -> throw new IllegalArgumentException(
          "--optimizer must be sgd or adam, got " + kind);
    };
    return opt.withWeightDecay(wd);
  }
}
