package dev.selfie.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.selfie.training.experiments.Quickstart;
import dev.selfie.training.jobs.Finetune;
import dev.selfie.training.jobs.Pretrain;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** The quickstart's flags reach the pretraining and finetuning runs it starts. */
class QuickstartOptionsTest {
  @Test
  void maskingAndFinetuneLrFlowIntoTheRuns() {
    Path out = Path.of("qs");
    Quickstart.Options defaults = new Quickstart.Options(out, "fashion-mnist", null, "small", 800,
        400, 64, 0.05, 1, 0);
    assertEquals(0, Quickstart.pretrainOptions(defaults, out).numMasked(), "preset's masking");
    assertEquals(0.05, Quickstart.finetuneOptions(defaults, out, null, null).schedule().lr());
    assertTrue(Quickstart.pretrainOptions(defaults, out).export(),
        "the pretraining run exports its SavedModel at its end");
    assertTrue(Quickstart.finetuneOptions(defaults, out, null, null).export(),
        "the finetuning runs export their SavedModels at their end");

    Quickstart.Options tuned = new Quickstart.Options(out, "fashion-mnist", null, "small", 3000,
        1000, 64, 0.05, 1, 0, 8, 0.1);
    Pretrain.Options p = Quickstart.pretrainOptions(tuned, out.resolve("pretrain"));
    assertEquals(8, p.numMasked());
    assertEquals(3000, p.schedule().steps());
    assertEquals(300, p.schedule().warmup(), "warmup = a tenth of the steps");
    Finetune.Options f = Quickstart.finetuneOptions(tuned, out.resolve("ft"), out, null);
    assertEquals(0.1, f.schedule().lr());
    assertEquals(1000, f.schedule().steps());
    assertEquals(100, f.schedule().warmup());
    assertEquals(0, f.recipe().headSteps());

    // --head-steps reaches the Selfie arm only.
    Quickstart.Options lpft = new Quickstart.Options(out, "fashion-mnist", null, "small", 3000,
        1000, 64, 0.05, 1, 0, 8, 0.1, null, 1e-4, null, "float32", 200);
    assertEquals(200, Quickstart.finetuneOptions(lpft, out.resolve("ft"), out, null).recipe()
        .headSteps());
    assertEquals(0, Quickstart.finetuneOptions(lpft, out.resolve("b"), null, null).recipe()
        .headSteps());
    org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
        () -> new Quickstart.Options(out, "fashion-mnist", null, "small", 3000, 1000, 64, 0.05, 1,
            0, 8, 0.1, null, 1e-4, null, "float32", 1000));
  }

  @Test
  void badFlagsAreRefusedByName() {
    Path out = Path.of("qs");
    var steps = assertThrows(IllegalArgumentException.class, () -> new Quickstart.Options(out,
        "fashion-mnist", null, "small", -5, 400, 64, 0.05, 1, 0));
    assertTrue(steps.getMessage().contains("--pretrain-steps"), steps.getMessage());
    var fraction = assertThrows(IllegalArgumentException.class, () -> new Quickstart.Options(out,
        "fashion-mnist", null, "small", 800, 400, 64, 0, 1, 0));
    assertTrue(fraction.getMessage().contains("--label-fraction"), fraction.getMessage());
    var preset = assertThrows(IllegalArgumentException.class, () -> new Quickstart.Options(out,
        "fashion-mnist", null, "huge", 800, 400, 64, 0.05, 1, 0));
    assertTrue(preset.getMessage().contains("--preset"), preset.getMessage());
  }
}
