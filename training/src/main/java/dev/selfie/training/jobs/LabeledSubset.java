package dev.selfie.training.jobs;

import dev.selfie.data.ImageSource;
import dev.selfie.data.LabelManifest;
import dev.selfie.data.Split;
import dev.selfie.training.run.RunDir;
import java.io.IOException;

/**
 * The training images a finetuning run learns from ({@code labels.json}) and the ones it is
 * validated on ({@code validation.json}), drawn once when the run starts and saved with it.
 *
 * @param labels the labeled subset
 * @param validation the validation split; null without {@code --validation}
 */
record LabeledSubset(LabelManifest labels, LabelManifest validation) {

  /**
   * Draws the subset of a new run: the validation split first (by its own seed), then the labels
   * from the rest with the run {@code seed}, or those of {@code labels.manifest()}.
   */
  static LabeledSubset draw(ImageSource src, Finetune.Labels labels, Finetune.Recipe recipe,
      long seed) throws IOException {
    LabelManifest validation = recipe.validation() > 0
        ? LabelManifest.validation(src, Split.TRAIN, recipe.validation(), recipe.validationSeed())
        : null;
    LabelManifest manifest;
    if (labels.manifest() != null) {
      manifest = LabelManifest.read(labels.manifest());
      if (validation != null && !manifest.disjointFrom(validation)) {
        throw new IllegalArgumentException("--label-manifest " + labels.manifest()
            + " shares images with the --validation " + recipe.validation()
            + " split (seed " + recipe.validationSeed() + "): the validation images must"
            + " never be trained on");
      }
    } else {
      manifest = LabelManifest.create(src, Split.TRAIN, labels.fraction(), seed, validation);
    }
    manifest.validateAgainst(src);
    return new LabeledSubset(manifest, validation);
  }

  /** The subset saved with the run in {@code dir}, started with {@code recipe}. */
  static LabeledSubset read(RunDir dir, Finetune.Recipe recipe) throws IOException {
    return new LabeledSubset(LabelManifest.read(dir.labelsManifest()),
        recipe.validation() > 0 ? LabelManifest.read(dir.validationManifest()) : null);
  }

  /** Saves the subset with the run in {@code dir}. */
  void write(RunDir dir) throws IOException {
    labels.write(dir.labelsManifest());
    if (validation != null) {
      validation.write(dir.validationManifest());
    }
  }
}
