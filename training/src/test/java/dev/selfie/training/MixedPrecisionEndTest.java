package dev.selfie.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.selfie.training.jobs.Evaluate;
import dev.selfie.training.jobs.Finetune;
import dev.selfie.training.options.CheckpointOptions;
import dev.selfie.training.options.RuntimeOptions;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A finetuning run in bfloat16 measures its end-of-run accuracies in float32, in a session of
 * their own: metrics.json's test accuracy is what {@code selfie evaluate} (float32, like the
 * exported SavedModel) reports for the same checkpoint, to the image, and the extra session
 * writes nothing into the run (one TensorBoard events file).
 */
class MixedPrecisionEndTest {

  @Test
  void theEndOfABfloat16RunIsMeasuredAsTheSavedModelComputes(@TempDir Path tmp) throws Exception {
    PretrainFixtures.assumeFashionMnist("MixedPrecisionEndTest");
    Path home = PretrainFixtures.writeCifarFromFashionMnist(tmp.resolve("data"), 600, 200);
    Path run = tmp.resolve("bf16");
    LogCapture console = new LogCapture();
    Finetune.Result r = Finetune.run(PretrainFixtures.finetune(home, run, null, 0.5, 8, 16, 0.1,
            1e-4)
        .withRecipe(Finetune.Recipe.defaults().withValidation(60, true))
        .withCheckpoints(CheckpointOptions.defaults().withCheckpointEvery(8).withKeep(1)
            .withLogEvery(1000).withSummaryEvery(4))
        .withRuntime(RuntimeOptions.defaults().withThreads(2).withPrecision("bfloat16")));
    String log = console.consoleAndClose();

    assertTrue(log.contains("validation and test accuracy at the end measured in float32"
        + " (training runs in bfloat16)"), log);
    Evaluate.Result evaluated = Evaluate.run(run, null, home, 64);
    assertEquals(200, evaluated.total());
    assertEquals(evaluated.accuracy(), r.testAccuracy(), 0.0,
        "metrics.json's test accuracy differs from selfie evaluate's");
    try (Stream<Path> files = Files.list(run.resolve("tensorboard"))) {
      List<Path> events = files.filter(f -> f.getFileName().toString().contains("tfevents"))
          .toList();
      assertEquals(1, events.size(), "events files: " + events);
    }
  }
}
