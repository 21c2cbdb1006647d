package dev.selfie.cli;

import dev.selfie.training.jobs.Evaluate;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code selfie evaluate}: test accuracy of a finetuning run. */
@Command(
    name = "evaluate",
    mixinStandardHelpOptions = true,
    showDefaultValues = true,
    description = "Test accuracy of a finetuning run (newest checkpoint, BN in inference mode).")
public final class EvaluateCommand implements Callable<Integer> {

  @Mixin SharedFlags.DataDir dataDirFlag;

  @Option(names = "--model", required = true, description = "Finetuning run directory.")
  Path model;

  @Option(names = "--dataset", description = "Dataset (default: the run's).")
  String dataset;

  @Option(names = "--batch-size", defaultValue = "500", description = "Evaluation batch size.")
  int batchSize;

  @Override
  public Integer call() throws Exception {
    Evaluate.run(model, dataset, dataDirFlag.dataDir, batchSize, System.out);
    return 0;
  }
}
