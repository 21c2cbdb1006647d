package dev.selfie.cli;

import dev.selfie.cli.flags.EpochsFlag;
import dev.selfie.cli.flags.ExportFlags;
import dev.selfie.cli.flags.RecipeOptions;
import dev.selfie.cli.flags.SharedFlags;
import dev.selfie.cli.flags.WeightDecayFlags;
import dev.selfie.graph.Classifier;
import dev.selfie.training.jobs.Finetune;
import dev.selfie.training.jobs.PretrainedRun;
import dev.selfie.training.options.DataOptions;
import dev.selfie.training.options.RuntimeOptions;
import dev.selfie.training.options.ScheduleOptions;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine;

/** {@code selfie finetune}: supervised finetuning on a label fraction, from pretraining or not. */
@Command(
    name = "finetune",
    mixinStandardHelpOptions = true,
    showDefaultValues = true,
    description = {
      "Finetune the full ResNet v2 (or the hybrid head) on a class-balanced fraction of the"
          + " labels. With --pretrained, stem + stages 1-3 start from a pretraining run; without,"
          + " the identical network trains from random init (the supervised baseline). Ends with"
          + " the test accuracy in metrics.json and the SavedModel in --out/savedmodel/1/ (unless"
          + " --no-export). Also writes metrics.jsonl (a line per logged step) and train.log"
          + " (the console output). Ctrl-C or SIGTERM saves a checkpoint of the current step and"
          + " prints the --resume command."
    })
public final class FinetuneCommand implements Callable<Integer> {

  @Mixin SharedFlags.DataDir dataDirFlag;
  @Mixin SharedFlags.BatchSize batchSizeFlag;
  @Mixin SharedFlags.Threads threadsFlag;
  @Mixin SharedFlags.Precision precisionFlag;
  @Mixin SharedFlags.Checkpointing checkpointing;

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Option(names = "--dataset", defaultValue = "fashion-mnist", description = "Dataset: cifar10, fashion-mnist, imagenet32, imagenet (TFRecords), folder"
      + " (--data-dir DIR with DIR/train/<class>/* and DIR/test/<class>/*).")
  String dataset;

  @Option(names = "--preset", defaultValue = "small",
      description = ModelCommand.PRESET_HELP
          + " Without --pretrained only (with it, the pretraining run's model is used).")
  String preset;

  @Option(names = "--label-fraction", defaultValue = "0.05",
      description = "Fraction of the training labels, class-balanced: 0.05, 0.1, 0.2, 1.0.")
  double labelFraction;

  @Option(names = "--label-manifest",
      description = "Reuse the labeled indices of this manifest (labels.json of another run).")
  Path labelManifest;

  @Option(names = "--seed", defaultValue = "1", description = "Seed of the label subset, init and data order.")
  long seed;

  @Option(names = "--out", required = true, description = "Run directory.")
  Path out;

  @Option(names = "--pretrained",
      description = "Pretraining run directory (its newest checkpoint), one checkpoint of it"
          + " (RUN/checkpoints/ckpt-N), or its savedmodel directory. Omit for the baseline.")
  Path pretrained;

  @Option(names = "--head", defaultValue = "resnet",
      description = "resnet (full ResNet v2 on the whole image) or hybrid (patch network + attention pooling).")
  String head;

  @Option(names = "--steps", defaultValue = "1000", description = "Training steps. See also --epochs.")
  long steps;

  @Mixin EpochsFlag epochsFlag;

  @Option(names = "--optimizer", defaultValue = "sgd", description = "sgd (Nesterov) or adam.")
  String optimizer;

  @Option(names = "--lr", defaultValue = "0.05", description = "Base learning rate.")
  double lr;

  @Option(names = "--warmup", defaultValue = "100", description = "Linear warmup steps.")
  long warmup;

  @Mixin WeightDecayFlags weightDecay;

  @Mixin ExportFlags export;

  @Option(names = "--no-augment", description = "Turn off random crop + flip.")
  boolean noAugment;

  @Option(names = "--xla", description = "Compile with XLA (JIT).")
  boolean xla;

  @Option(names = "--keep", defaultValue = "2", description = "Checkpoints to keep.")
  int keep;

  @Option(names = "--eval-batch-size", defaultValue = "500", description = "Batch size of the test pass.")
  int evalBatchSize;

  @CommandLine.Mixin RecipeOptions recipe;

  @Option(names = "--eval-every", paramLabel = "N", description = "Evaluate on the --validation"
      + " split every N steps during training: shown in the progress line, written to"
      + " TensorBoard (validation_accuracy) and metrics.jsonl; the training itself is unchanged."
      + " 0 = only at the end. Default: " + Finetune.Options.DEFAULT_EVAL_EVERY
      + " with --validation, else 0.")
  Integer evalEvery;

  static Classifier.Head head(String name) {
    return switch (name.toLowerCase()) {
      case "resnet" -> Classifier.Head.RESNET;
      case "hybrid" -> Classifier.Head.HYBRID;
      default -> throw new IllegalArgumentException("--head must be resnet or hybrid, got " + name);
    };
  }

  Finetune.Options options() {
    return Finetune.Options.defaults(out)
        .withPretrained(pretrained)
        .withPreset(preset)
        .withHead(head(head))
        .withLabels(new Finetune.Labels(labelFraction, labelManifest))
        .withData(DataOptions.of(dataset, dataDirFlag.dataDir).withAugment(!noAugment)
            .withBatchSize(batchSizeFlag.batchSize))
        .withSchedule(epochsFlag.applyTo(weightDecay.applyTo(ScheduleOptions.defaults()
            .withSteps(steps).withOptimizer(optimizer).withLr(lr).withWarmup(warmup))))
        .withCheckpoints(checkpointing.options(keep))
        .withRuntime(RuntimeOptions.defaults().withSeed(seed).withThreads(threadsFlag.threads)
            .withXla(xla).withPrecision(precisionFlag.precision))
        .withRecipe(recipe.recipe())
        .withEvalBatchSize(evalBatchSize)
        .withEvalEvery(evalEvery == null ? -1 : evalEvery)
        .withExport(export.export());
  }

  @Override
  public Integer call() throws Exception {
    if (pretrained != null && spec.commandLine().getParseResult().hasMatchedOption("--preset")) {
      String used = PretrainedRun.config(pretrained).preset();
      if (!used.equalsIgnoreCase(preset)) {
        System.out.printf("note: --preset %s ignored: with --pretrained the architecture is the"
            + " pretraining run's (preset %s)%n", preset, used);
      }
    }
    Finetune.run(options());
    return 0;
  }
}
