package dev.selfie.cli;

import dev.selfie.cli.flags.SharedFlags;
import dev.selfie.cli.flags.VariantFlags;
import dev.selfie.cli.flags.WeightDecayFlags;
import dev.selfie.experiments.Quickstart;
import dev.selfie.training.options.DataOptions;
import dev.selfie.training.options.RuntimeOptions;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code selfie quickstart}: pretrain, finetune with and without pretraining, evaluate, export. */
@Command(
    name = "quickstart",
    mixinStandardHelpOptions = true,
    showDefaultValues = true,
    description = {
      "The main job end to end on a small budget: Selfie pretraining, finetuning at a label"
          + " fraction from the pretrained weights and from random init (same labels, same"
          + " schedule), evaluation of both, SavedModel export, and a comparison table."
          + " Re-running continues where it stopped."
    })
public final class QuickstartCommand implements Callable<Integer> {

  @Mixin SharedFlags.DataDir dataDirFlag;
  @Mixin SharedFlags.BatchSize batchSizeFlag;
  @Mixin SharedFlags.Threads threadsFlag;
  @Mixin SharedFlags.Precision precisionFlag;

  @Option(names = "--out", defaultValue = "runs/quickstart", description = "Output directory.")
  Path out;

  @Option(names = "--dataset", defaultValue = "fashion-mnist", description = "Dataset.")
  String dataset;

  @Option(names = "--preset", defaultValue = "small", description = ModelCommand.PRESET_HELP)
  String preset;

  @Option(names = "--pretrain-steps", defaultValue = "7000", description = "Pretraining steps.")
  long pretrainSteps;

  @Option(names = "--pretrain-lr", defaultValue = "0.3", paramLabel = "LR",
      description = "Base learning rate of the pretraining run (warmup over a tenth of the steps,"
          + " then cosine; `pretrain --lr`). 0.3 beat 0.1 by 1.4 points at 5% labels on"
          + " validation (docs/results/ablations.md).")
  double pretrainLr;

  @Option(names = "--clip-norm", defaultValue = "1.0", paramLabel = "NORM",
      description = "Pretraining: scale the gradients down to this global L2 norm when they"
          + " exceed it (0 = no clipping; `pretrain --clip-norm`).")
  double clipNorm;

  @Option(names = "--finetune-steps", defaultValue = "1000", description = "Finetuning steps (each run).")
  long finetuneSteps;

  @Option(names = "--label-fraction", defaultValue = "0.05", description = "Fraction of training labels.")
  double labelFraction;

  @Option(names = "--seed", defaultValue = "1", description = "Seed.")
  long seed;

  @Option(names = "--num-masked", defaultValue = "12",
      description = "Masked patches per image in pretraining (0 = the preset's: 4 of 16 in small;"
          + " 12 of 16 gave the larger gain, docs/results/ablations.md).")
  int numMasked;

  @Option(names = "--finetune-lr", defaultValue = "0.1", description = "Finetuning learning"
      + " rate of the Selfie arm (its best of 0.05/0.1/0.2 at 5% labels on validation).")
  double finetuneLr;

  @Option(names = "--baseline-lr", defaultValue = "0.4", paramLabel = "LR",
      description = "Finetuning learning rate of the supervised baseline (its best of"
          + " 0.1/0.2/0.4/0.8 at 5% labels on validation): each arm at its own best.")
  double baselineLr;

  @Option(names = "--head-steps", defaultValue = "200", paramLabel = "K",
      description = "Selfie arm: train only the new layers for the first K finetuning steps, then"
          + " all layers (LP-FT; tuned on validation, docs/results/ablations.md); no effect on the"
          + " baseline. 0 = all layers from the start.")
  long headSteps;

  @picocli.CommandLine.Mixin
  VariantFlags variants;

  @Mixin WeightDecayFlags weightDecay;

  @Override
  public Integer call() throws Exception {
    Quickstart.run(Quickstart.Options.defaults(out)
        .withPreset(preset)
        .withData(DataOptions.of(dataset, dataDirFlag.dataDir)
            .withBatchSize(batchSizeFlag.batchSize))
        .withRuntime(RuntimeOptions.defaults().withSeed(seed).withThreads(threadsFlag.threads)
            .withPrecision(precisionFlag.precision))
        .withSteps(pretrainSteps, finetuneSteps, headSteps)
        .withLabelFraction(labelFraction)
        .withNumMasked(numMasked)
        .withPretrainLr(pretrainLr)
        .withClipNorm(clipNorm)
        .withFinetuneLr(finetuneLr)
        .withBaselineLr(baselineLr)
        .withVariants(variants.variants())
        .withWeightDecay(weightDecay.weightDecay(), weightDecay.type()));
    return 0;
  }
}
