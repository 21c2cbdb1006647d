package dev.selfie.cli;

import dev.selfie.training.jobs.Predict;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code selfie predict}: classify PNG/JPEG files with a finetuned SavedModel. */
@Command(
    name = "predict",
    mixinStandardHelpOptions = true,
    showDefaultValues = true,
    description = "Classify image files (PNG, JPEG) with a finetuned SavedModel: each image is"
        + " resized to the model's native size and converted to its channels (grey: luminance);"
        + " prints 'file  class  probability' for the top K classes.")
public final class PredictCommand implements Callable<Integer> {

  @Option(names = "--model", required = true,
      description = "SavedModel directory of a finetuning run, or the run directory.")
  Path model;

  @Option(names = "--top", defaultValue = "1", description = "Classes printed per image.")
  int top;

  @Option(names = "--json", description = "Print JSON (one array, an object per image).")
  boolean json;

  @Option(names = "--batch-size", defaultValue = "64", description = "Images per session run.")
  int batchSize;

  @Parameters(arity = "1..*", paramLabel = "IMAGE", description = "Image files.")
  List<Path> images;

  /** The options as a record (no I/O): call after parsing. */
  public Predict.Options options() {
    return new Predict.Options(model, images, top, batchSize);
  }

  @Override
  public Integer call() throws Exception {
    List<Predict.Result> results = Predict.run(options());
    System.out.print(json ? Predict.formatJson(results) : Predict.formatText(results));
    System.out.flush();
    return 0;
  }
}
