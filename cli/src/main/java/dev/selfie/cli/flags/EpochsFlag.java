package dev.selfie.cli.flags;

import dev.selfie.training.options.ScheduleOptions;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code --epochs E}: a run's length in passes over its training images instead of {@code
 * --steps} (pretrain: the training split; finetune: the labeled subset), the same flag in both.
 */
public final class EpochsFlag {
  @Spec(Spec.Target.MIXEE) CommandSpec mixee;

  @Option(names = "--epochs", paramLabel = "E", description = "Train for E passes over the"
      + " training images instead of --steps: ceil(E x images / batch size) steps (pretrain: the"
      + " training split; finetune: the labeled subset). Recorded as steps in config.json.")
  Double epochs;

  /**
   * {@code schedule} with {@code --epochs} if given; fails naming both flags if {@code --steps}
   * is given too.
   */
  public ScheduleOptions applyTo(ScheduleOptions schedule) {
    if (epochs == null) {
      return schedule;
    }
    if (mixee.commandLine().getParseResult().hasMatchedOption("--steps")) {
      throw new IllegalArgumentException(
          "--steps and --epochs both given: the run's length is one of them");
    }
    if (!(epochs > 0) || !Double.isFinite(epochs)) {
      throw new IllegalArgumentException(
          "--epochs must be a number > 0 (passes over the training images), got " + epochs);
    }
    return schedule.withEpochs(epochs);
  }
}
