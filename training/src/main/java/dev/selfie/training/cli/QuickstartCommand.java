package dev.selfie.training.cli;

import dev.selfie.training.Quickstart;
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

  @Option(names = "--out", defaultValue = "runs/quickstart", description = "Output directory.")
  Path out;

  @Option(names = "--dataset", defaultValue = "fashion-mnist", description = "Dataset.")
  String dataset;

  @Option(names = "--data-dir", description = "Data home (else $SELFIE_DATA, else ~/.cache/selfie).")
  Path dataDir;

  @Option(names = "--preset", defaultValue = "small", description = "Model preset.")
  String preset;

  @Option(names = "--pretrain-steps", defaultValue = "3000", description = "Pretraining steps.")
  long pretrainSteps;

  @Option(names = "--finetune-steps", defaultValue = "1000", description = "Finetuning steps (each run).")
  long finetuneSteps;

  @Option(names = "--batch-size", defaultValue = "64", description = "Images per step.")
  int batchSize;

  @Option(names = "--label-fraction", defaultValue = "0.05", description = "Fraction of training labels.")
  double labelFraction;

  @Option(names = "--seed", defaultValue = "1", description = "Seed.")
  long seed;

  @Option(names = "--threads", defaultValue = "0", description = "Intra-op threads (0 = all cores).")
  int threads;

  @Option(names = "--num-masked", defaultValue = "8",
      description = "Masked patches per image in pretraining (0 = the preset's: 4 of 16 in small;"
          + " 8 of 16 gave the larger gain, docs/results/README.md).")
  int numMasked;

  @Option(names = "--finetune-lr", defaultValue = "0.1", description = "Finetuning learning"
      + " rate (both arms; the baseline's best of 0.05/0.1/0.2 on validation).")
  double finetuneLr;

  @Option(names = "--head-steps", defaultValue = "200", paramLabel = "K",
      description = "Selfie arm: train only the new layers for the first K finetuning steps, then"
          + " all layers (LP-FT; tuned on validation, docs/results/ablations.md); no effect on the"
          + " baseline. 0 = all layers from the start.")
  long headSteps;

  @picocli.CommandLine.Mixin
  VariantFlags variants;

  @Mixin WeightDecayFlags weightDecay;

  @Option(names = "--precision", defaultValue = "auto", description = "Arithmetic of the"
      + " training step: float32, bfloat16 (CPUs with AVX512_BF16/AMX-BF16, oneDNN), float16"
      + " (GPU; emulated and slow on a CPU), auto (bfloat16 where the CPU has it, float16 on a"
      + " GPU, else float32). Weights, checkpoints and SavedModels stay float32.")
  String precision;

  @Override
  public Integer call() throws Exception {
    Quickstart.run(new Quickstart.Options(out, dataset, dataDir, preset, pretrainSteps,
        finetuneSteps, batchSize, labelFraction, seed, threads, numMasked, finetuneLr,
        variants.variants(), weightDecay.weightDecay(), weightDecay.type(), precision,
        headSteps),
        System.out);
    return 0;
  }
}
