package dev.selfie.training.cli;

import dev.selfie.training.Export;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code selfie export}: (re-)export a run's newest checkpoint as a SavedModel. */
@Command(
    name = "export",
    mixinStandardHelpOptions = true,
    showDefaultValues = true,
    description = "Export a pretraining or finetuning run's newest checkpoint to RUN/savedmodel"
        + " (raw uint8 images in, preprocessing inside; the previous export stays until the new"
        + " one is complete).")
public final class ExportCommand implements Callable<Integer> {

  @Option(names = "--run", required = true, description = "Run directory.")
  Path run;

  @Override
  public Integer call() throws Exception {
    Export.run(run, System.out);
    return 0;
  }
}
