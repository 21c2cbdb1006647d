package dev.selfie.cli;

import dev.selfie.cli.flags.RecipeOptions;
import dev.selfie.cli.flags.SharedFlags;
import dev.selfie.cli.flags.VariantFlags;
import dev.selfie.cli.flags.WeightDecayFlags;
import dev.selfie.experiments.Arms;
import dev.selfie.experiments.Experiment;
import dev.selfie.experiments.ExperimentOptions;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine;

/** {@code selfie experiment}: the paper's label-fraction experiment, Selfie vs supervised. */
@Command(
    name = "experiment",
    mixinStandardHelpOptions = true,
    showDefaultValues = true,
    description = {
      "The paper's experiment in one command: one Selfie pretraining run, then for each label"
          + " fraction and seed a finetune from the pretrained weights and a supervised baseline"
          + " from random init (identical network, schedule, seed and label manifest), plus"
          + " linear-probe and kNN accuracy of pretrained vs random-init features. Writes"
          + " results.json, results.md and results.png into --out. Rerunning skips finished"
          + " cells and continues interrupted runs."
    })
public final class ExperimentCommand implements Callable<Integer> {

  @Mixin SharedFlags.DataDir dataDirFlag;
  @Mixin SharedFlags.BatchSize batchSizeFlag;
  @Mixin SharedFlags.Threads threadsFlag;
  @Mixin SharedFlags.Precision precisionFlag;

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Option(names = "--out", required = true, description = "Experiment directory.")
  Path out;

  @Option(names = "--dataset", defaultValue = "fashion-mnist", description = "Dataset.")
  String dataset;

  @Option(names = "--preset", defaultValue = "small", description = ModelCommand.PRESET_HELP)
  String preset;

  @Option(names = "--fractions", defaultValue = "0.05,0.1,0.2,1.0", split = ",",
      description = "Label fractions (comma-separated, each in (0, 1]).")
  List<Double> fractions;

  @Option(names = "--seeds", defaultValue = "3", description = "Seeds per fraction (1..N).")
  int seeds;

  @Option(names = "--pretrain-steps", defaultValue = "1000", description = "Pretraining steps.")
  long pretrainSteps;

  @Option(names = "--finetune-steps", defaultValue = "200",
      description = "Steps of every finetuning run (Selfie and baseline alike).")
  long finetuneSteps;

  @Option(names = "--pretrain-lr", defaultValue = "0.1", description = "Pretraining learning rate.")
  double pretrainLr;

  @Option(names = "--finetune-lr", defaultValue = "0.05", description = "Finetuning learning rate.")
  double finetuneLr;

  @Option(names = "--num-masked", defaultValue = "0",
      description = "Masked patches per image in pretraining (0 = the preset's).")
  int numMasked;

  @Mixin WeightDecayFlags weightDecay;

  @Option(names = "--no-augment", description = "Turn off random crop + flip.")
  boolean noAugment;

  @Option(names = "--probe-fraction", defaultValue = "0.1",
      description = "Fraction of training labels for linear probe and kNN (0 = skip the probes).")
  double probeFraction;

  @Option(names = "--pretrained",
      description = "Reuse this finished pretraining run (e.g. another experiment's DIR/pretrain),"
          + " or one of its checkpoints (RUN/checkpoints/ckpt-N, e.g. chosen on validation),"
          + " instead of pretraining; the pretraining flags are then ignored.")
  Path pretrained;

  @CommandLine.Mixin RecipeOptions recipe;

  @Option(names = "--baseline-lr", defaultValue = "0", paramLabel = "LR",
      description = "Finetuning learning rate of the supervised baseline (0 = --finetune-lr):"
          + " each arm gets its own tuned value.")
  double baselineLr;

  @Option(names = "--finetune-lr-per-fraction", split = ",", paramLabel = "FRACTION=LR",
      description = "Selfie's finetuning learning rate at some fractions (e.g. 0.01=0.05,0.05=0.1),"
          + " overriding --finetune-lr there: each fraction with its own tuned value.")
  Map<Double, Double> lrByFraction;

  @Option(names = "--baseline-lr-per-fraction", split = ",", paramLabel = "FRACTION=LR",
      description = "The baseline's finetuning learning rate at some fractions, overriding"
          + " --baseline-lr there.")
  Map<Double, Double> baselineLrByFraction;

  @Option(names = "--baseline-steps", defaultValue = "0", paramLabel = "N",
      description = "Finetuning steps of the supervised baseline (0 = --finetune-steps).")
  long baselineSteps;

  @Option(names = "--curve-steps", split = ",", paramLabel = "S",
      description = "Also finetune Selfie from these earlier checkpoints of the pretraining run"
          + " (every fraction and seed) and write curve.{json,md,png}: the gain vs pretraining"
          + " epochs. The pretraining run must have kept them (the experiment's own pretraining"
          + " does).")
  List<Long> curveSteps;

  @picocli.CommandLine.Mixin
  VariantFlags variants;

  @Option(names = "--parallel", defaultValue = "1", paramLabel = "N",
      description = "Run the finetuning cells in N worker processes at once, each with --threads"
          + " intra-op threads (or its share of the cores when --threads is 0); the numbers are"
          + " those of --parallel 1 with the same --threads. A finetuning step of preset small"
          + " keeps one core busy better than two: on 2 cores use --parallel 2 --threads 1.")
  int parallel;

  @Override
  public Integer call() throws Exception {
    List<String> args = new ArrayList<>(List.of("selfie"));
    // The subcommand's parse result holds the whole command line, "experiment" included.
    args.addAll(spec.commandLine().getParseResult().originalArgs());
    Experiment.run(ExperimentOptions.builder(out)
        .dataset(dataset)
        .dataDir(dataDirFlag.dataDir)
        .preset(preset)
        .fractions(fractions)
        .seeds(seeds)
        .pretrainSteps(pretrainSteps)
        .finetuneSteps(finetuneSteps)
        .batchSize(batchSizeFlag.batchSize)
        .pretrainLr(pretrainLr)
        .finetuneLr(finetuneLr)
        .numMasked(numMasked)
        .weightDecay(weightDecay.weightDecay())
        .augment(!noAugment)
        .probeFraction(probeFraction)
        .threads(threadsFlag.threads)
        .pretrained(pretrained)
        .command(String.join(" ", args))
        .arms(new Arms(recipe.recipe(), baselineLr, baselineSteps)
            .withLrByFraction(lrByFraction, baselineLrByFraction))
        .curveSteps(curveSteps)
        .variants(variants.variants())
        .weightDecayType(weightDecay.type())
        .precision(precisionFlag.precision)
        .parallel(parallel)
        .build());
    return 0;
  }
}
