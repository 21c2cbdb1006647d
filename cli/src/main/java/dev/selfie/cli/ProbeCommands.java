package dev.selfie.cli;

import dev.selfie.cli.flags.RunFlag;
import dev.selfie.cli.flags.SharedFlags;
import dev.selfie.training.jobs.Probe;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code selfie linear-probe} and {@code selfie knn}: the standard protocols for self-supervised
 * features, on frozen embeddings of a pretraining run (or a random init of the same network).
 * Both compute the two accuracies; each prints the one it is named after first.
 */
final class ProbeCommands {
  private ProbeCommands() {}

  /** Flags shared by both commands. */
  static final class Flags {
    @Option(names = "--run", paramLabel = "DIR",
        description = "Pretraining run directory (or its savedmodel). Omit for a random init of --preset.")
    Path run;

    /** The flag's name before it was made {@code --run} like the other commands reading a run. */
    @Option(names = "--model", hidden = true)
    Path oldName;

    @Option(names = "--dataset", defaultValue = "fashion-mnist", description = "Dataset.")
    String dataset;

    @Mixin SharedFlags.DataDir dataDirFlag;

    @Option(names = "--preset", defaultValue = "small", description = "Preset for the random-init reference.")
    String preset;

    @Option(names = "--features", defaultValue = "image",
        description = "image (patch network on the whole image, pooled) or attention (u over all patches).")
    String features;

    @Option(names = "--label-fraction", defaultValue = "1.0",
        description = "Fraction of the training labels the probe sees (class-balanced).")
    double labelFraction;

    @Option(names = "--seed", defaultValue = "1", description = "Seed (label subset, random init).")
    long seed;

    @Option(names = "--k", defaultValue = "20", description = "Neighbours for kNN.")
    int k;

    @Option(names = "--epochs", defaultValue = "300", description = "Full-batch Adam steps of the linear probe.")
    int epochs;

    @Option(names = "--batch-size", defaultValue = "500", description = "Feature extraction batch size.")
    int batchSize;

    @Option(names = "--recalibrate-bn", negatable = true, defaultValue = "true",
        fallbackValue = "true",
        description = "image features: re-estimate P's BN statistics on whole training images"
            + " before probing (pretraining collected them on patches); --no-recalibrate-bn keeps"
            + " the pretraining statistics. attention features run P on patches and never"
            + " recalibrate.")
    boolean recalibrateBn;

    @Option(names = "--bn-batches", defaultValue = "" + Probe.Options.DEFAULT_BN_BATCHES,
        description = "Batches (of --batch-size whole training images, forward only) of the BN"
            + " recalibration.")
    int bnBatches;

    Probe.Options options(CommandSpec spec) {
      Path model = RunFlag.resolve(spec, run, oldName, false);
      Probe.Features f = switch (features.toLowerCase()) {
        case "image" -> Probe.Features.IMAGE;
        case "attention" -> Probe.Features.ATTENTION;
        default -> throw new IllegalArgumentException(
            "--features must be image or attention, got " + features);
      };
      return new Probe.Options(dataset, dataDirFlag.dataDir, model, preset, f, labelFraction, seed, k, epochs,
          batchSize, recalibrateBn, bnBatches);
    }
  }

  @Command(name = "linear-probe", mixinStandardHelpOptions = true, showDefaultValues = true,
      description = "Linear classifier on frozen embeddings (also reports kNN).")
  static final class LinearProbe implements Callable<Integer> {
    @Mixin Flags flags;
    @Spec CommandSpec spec;

    @Override
    public Integer call() throws Exception {
      Probe.Result r = Probe.run(flags.options(spec));
      System.out.printf("linear-probe accuracy: %.2f%%%n", 100 * r.linearAccuracy());
      return 0;
    }
  }

  @Command(name = "knn", mixinStandardHelpOptions = true, showDefaultValues = true,
      description = "k-nearest-neighbour classifier (cosine) on frozen embeddings (also reports the linear probe).")
  static final class Knn implements Callable<Integer> {
    @Mixin Flags flags;
    @Spec CommandSpec spec;

    @Override
    public Integer call() throws Exception {
      Probe.Result r = Probe.run(flags.options(spec));
      System.out.printf("%d-NN accuracy: %.2f%%%n", flags.k, 100 * r.knnAccuracy());
      return 0;
    }
  }
}
