package dev.selfie.cli;

import dev.selfie.cli.flags.RunFlag;
import dev.selfie.cli.flags.SharedFlags;
import dev.selfie.training.jobs.Evaluate;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code selfie evaluate}: test accuracy of a finetuning run. */
@Command(
    name = "evaluate",
    mixinStandardHelpOptions = true,
    showDefaultValues = true,
    description = "Test accuracy of a finetuning run (newest checkpoint, BN in inference mode).")
public final class EvaluateCommand implements Callable<Integer> {

  @Mixin SharedFlags.DataDir dataDirFlag;

  @Spec CommandSpec spec;

  @Option(names = "--run", paramLabel = "DIR", description = "Finetuning run directory (required).")
  Path run;

  /** The flag's name before it was made {@code --run} like the other commands reading a run. */
  @Option(names = "--model", hidden = true)
  Path oldName;

  @Option(names = "--dataset", description = "Dataset (default: the run's).")
  String dataset;

  @Option(names = "--batch-size", defaultValue = "500", description = "Evaluation batch size.")
  int batchSize;

  @Override
  public Integer call() throws Exception {
    Path dir = RunFlag.resolve(spec, run, oldName, true);
    Evaluate.run(dir, dataset, dataDirFlag.dataDir, batchSize);
    return 0;
  }
}
