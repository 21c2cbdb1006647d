package dev.selfie.cli;

import dev.selfie.cli.flags.SharedFlags;
import dev.selfie.data.Split;
import dev.selfie.training.jobs.Diagnose;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code selfie diagnose}: how much a pretrained model's queries use the context. */
@Command(
    name = "diagnose",
    mixinStandardHelpOptions = true,
    showDefaultValues = true,
    description = {
      "Context diagnostic of a pretraining run: patch-selection accuracy in inference mode (fixed"
          + " masks) as trained, with the context the queries get zeroed (u; the context tokens"
          + " for --query-mode attend), and with it taken from another image of the batch."
          + " Prints the three and writes them as JSON."
    })
public final class DiagnoseCommand implements Callable<Integer> {

  @Mixin SharedFlags.DataDir dataDirFlag;

  @Option(names = "--run", required = true, description = "Pretraining run directory.")
  Path run;

  @Option(names = "--dataset", description = "Dataset (default: the run's).")
  String dataset;

  @Option(names = "--split", defaultValue = "test", description = "test or train.")
  String split;

  @Option(names = "--images", defaultValue = "0",
      description = "Images to use, in whole batches (0 = the whole split).")
  int images;

  @Option(names = "--batch-size", defaultValue = "100", description = "Images per batch (>= 2).")
  int batchSize;

  @Option(names = "--seed", defaultValue = "1", description = "Mask seed (batch i uses [seed, i]).")
  long seed;

  @Option(names = "--json", description = "Output file (default: RUN/diagnose-<split>.json).")
  Path json;

  Diagnose.Options options() {
    Split s = switch (split.toLowerCase(java.util.Locale.ROOT)) {
      case "test" -> Split.TEST;
      case "train" -> Split.TRAIN;
      default -> throw new IllegalArgumentException("--split must be test or train, got " + split);
    };
    return new Diagnose.Options(run, dataset, dataDirFlag.dataDir, s, images, batchSize, seed, json);
  }

  @Override
  public Integer call() throws Exception {
    Diagnose.run(options());
    return 0;
  }
}
