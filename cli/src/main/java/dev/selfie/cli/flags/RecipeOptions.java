package dev.selfie.cli.flags;

import dev.selfie.training.jobs.Finetune;
import picocli.CommandLine.Option;

/**
 * The finetuning recipe flags shared by {@code finetune} and {@code experiment} (a picocli mixin):
 * validation split, test-set reading, and the treatment of the pretrained layers.
 */
public final class RecipeOptions {

  @Option(names = "--validation", defaultValue = "0", paramLabel = "N",
      description = "Hold out N training images (class-balanced, chosen by --validation-seed) as"
          + " a validation split: labels are drawn from the rest, and the run reports"
          + " validation accuracy. Tune on it (with --no-test), never on the test set."
          + " 0 = no validation split.")
  public int validation;

  @Option(names = "--validation-seed", defaultValue = "0", paramLabel = "S",
      description = "Seed of the --validation split; keep it fixed across a tuning sweep.")
  public long validationSeed;

  @Option(names = "--no-test", description = "Do not read the test set (tuning runs; needs"
      + " --validation). The final configuration reruns without it.")
  public boolean noTest;

  @Option(names = "--pretrained-lr-scale", defaultValue = "1", paramLabel = "X",
      description = "Learning-rate multiplier of the layers restored from pretraining (e.g. 0.1"
          + " keeps more of what pretraining learned); no effect on the baseline.")
  public double pretrainedLrScale;

  @Option(names = "--head-steps", defaultValue = "0", paramLabel = "K",
      description = "Train only the new layers for the first K steps, then all layers (LP-FT);"
          + " no effect on the baseline.")
  public long headSteps;

  public Finetune.Recipe recipe() {
    return new Finetune.Recipe(validation, validationSeed, !noTest, pretrainedLrScale, headSteps);
  }
}
