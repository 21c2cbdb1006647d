package dev.selfie.cli.flags;

import dev.selfie.training.optim.OptimizerConfig;
import dev.selfie.training.options.ScheduleOptions;
import picocli.CommandLine.Option;

/**
 * {@code --weight-decay} and {@code --weight-decay-type}, the same two flags (names, defaults,
 * help) in every training command: pretrain, finetune, experiment, quickstart.
 */
public final class WeightDecayFlags {
  @Option(names = "--weight-decay", defaultValue = "1e-4",
      description = "Weight decay coefficient wd on conv/dense kernels only (not BN, LN, biases,"
          + " embeddings, u0); how it acts: --weight-decay-type. 0 = none.")
  public double weightDecay;

  @Option(names = "--weight-decay-type", defaultValue = "decoupled",
      description = "decoupled (default): w -= lr*wd*w before each update, outside the gradient"
          + " and the momentum. l2: grad += wd*w (L2 penalty wd/2*|w|^2 in the loss), which goes"
          + " through the momentum: with SGD momentum 0.9 about 10x stronger than decoupled at"
          + " the same wd (the classic ResNet setting, 1e-4).")
  public String weightDecayType;

  /** The parsed type; the error names the flag. */
  public OptimizerConfig.WeightDecayType type() {
    return OptimizerConfig.WeightDecayType.parse(weightDecayType);
  }

  /** {@code schedule} with these flags' weight decay. */
  public ScheduleOptions applyTo(ScheduleOptions schedule) {
    return schedule.withWeightDecay(weightDecay(), type());
  }

  /** The coefficient, checked. */
  public double weightDecay() {
    if (!(weightDecay >= 0 && Double.isFinite(weightDecay))) {
      throw new IllegalArgumentException("--weight-decay must be >= 0, got " + weightDecay);
    }
    return weightDecay;
  }
}
