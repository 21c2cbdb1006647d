package dev.selfie.cli;

import dev.selfie.training.jobs.Export;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code selfie export}: (re-)export a run's newest checkpoint as a SavedModel. */
@Command(
    name = "export",
    mixinStandardHelpOptions = true,
    showDefaultValues = true,
    description = "Export a pretraining or finetuning run's newest checkpoint to"
        + " RUN/savedmodel/VERSION (TensorFlow Serving's layout; raw uint8 images or encoded"
        + " image bytes in, preprocessing inside; a previous export of that version stays until"
        + " the new one is complete).")
public final class ExportCommand implements Callable<Integer> {

  @Option(names = "--run", required = true, description = "Run directory.")
  Path run;

  @Option(names = "--version", defaultValue = "1",
      description = "Model version: the export goes to RUN/savedmodel/VERSION. A running"
          + " `selfie serve --model RUN` picks up a higher version.")
  long version;

  @Override
  public Integer call() throws Exception {
    Export.run(run, version);
    return 0;
  }
}
