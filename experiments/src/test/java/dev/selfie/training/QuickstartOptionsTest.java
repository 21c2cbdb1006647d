package dev.selfie.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.selfie.experiments.Experiment;
import dev.selfie.experiments.ExperimentOptions;
import dev.selfie.experiments.ExperimentReport;
import dev.selfie.experiments.Quickstart;
import dev.selfie.graph.ModelConfig;
import dev.selfie.training.jobs.Finetune;
import dev.selfie.training.jobs.Pretrain;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The quickstart's and the experiment's flags reach the pretraining and finetuning runs they start. */
class QuickstartOptionsTest {
  static final Pretrain.Variants ALL = new Pretrain.Variants(true, ModelConfig.QueryMode.ATTEND,
      true, 0.5);

  @Test
  void theDefaultsAreTheCommandLines() {
    Quickstart.Options d = Quickstart.Options.defaults(Path.of("qs"));
    assertEquals("small", d.preset());
    assertEquals("fashion-mnist", d.data().dataset());
    assertEquals(64, d.data().batchSize());
    assertEquals(7000, d.pretrainSteps());
    assertEquals(0.3, d.pretraining().lr());
    assertEquals(1.0, d.pretraining().clipNorm());
    assertEquals(1000, d.finetuneSteps());
    assertEquals(200, d.headSteps());
    assertEquals(0.05, d.labelFraction());
    assertEquals(12, d.numMasked());
    assertEquals(0.1, d.finetuneLr());
    assertEquals(0.4, d.baselineLr());
    assertEquals("auto", d.runtime().precision());
  }

  @Test
  void maskingAndFinetuneLrFlowIntoTheRuns() {
    Path out = Path.of("qs");
    Quickstart.Options presets = Quickstart.Options.defaults(out).withSteps(800, 400, 0)
        .withNumMasked(0).withFinetuneLr(0.05).withBaselineLr(0.3);
    assertEquals(0, Quickstart.pretrainOptions(presets, out).numMasked(), "preset's masking");
    assertEquals(0.3, Quickstart.finetuneOptions(presets, out, null, null).schedule().lr(),
        "the baseline at its own lr");
    assertEquals(0.05, Quickstart.finetuneOptions(presets, out, out, null).schedule().lr(),
        "the Selfie arm at --finetune-lr");
    assertTrue(Quickstart.pretrainOptions(presets, out).export(),
        "the pretraining run exports its SavedModel at its end");
    assertTrue(Quickstart.finetuneOptions(presets, out, null, null).export(),
        "the finetuning runs export their SavedModels at their end");

    Quickstart.Options tuned = Quickstart.Options.defaults(out).withSteps(3000, 1000, 0);
    Pretrain.Options p = Quickstart.pretrainOptions(tuned, out.resolve("pretrain"));
    assertEquals(12, p.numMasked());
    assertEquals(3000, p.schedule().steps());
    assertEquals(300, p.schedule().warmup(), "warmup = a tenth of the steps");
    Finetune.Options f = Quickstart.finetuneOptions(tuned, out.resolve("ft"), out, null);
    assertEquals(0.1, f.schedule().lr());
    assertEquals(1000, f.schedule().steps());
    assertEquals(100, f.schedule().warmup());
    assertEquals(0, f.recipe().headSteps());

    // --head-steps reaches the Selfie arm only.
    Quickstart.Options lpft = Quickstart.Options.defaults(out);
    assertEquals(200, Quickstart.finetuneOptions(lpft, out.resolve("ft"), out, null).recipe()
        .headSteps());
    assertEquals(0, Quickstart.finetuneOptions(lpft, out.resolve("b"), null, null).recipe()
        .headSteps());
    assertThrows(IllegalArgumentException.class,
        () -> Quickstart.Options.defaults(out).withSteps(3000, 1000, 1000));
  }

  @Test
  void pretrainingLrAndClippingReachThePretrainingRunOnly() {
    Path out = Path.of("qs");
    Quickstart.Options o = Quickstart.Options.defaults(out).withPretrainLr(0.2).withClipNorm(1.5)
        .withFinetuneLr(0.07);
    Pretrain.Options p = Quickstart.pretrainOptions(o, out.resolve("pretrain"));
    assertEquals(0.2, p.schedule().lr());
    assertEquals(1.5, p.schedule().clipNorm());
    Finetune.Options selfie = Quickstart.finetuneOptions(o, out.resolve("ft"), out, null);
    assertEquals(0.07, selfie.schedule().lr());
    assertEquals(0, selfie.schedule().clipNorm(), "finetuning is not clipped");
    assertEquals(0, Quickstart.finetuneOptions(o, out.resolve("b"), null, null).schedule()
        .clipNorm());
    Quickstart.Options back = o.withPretrainLr(0.3).withClipNorm(1.0).withFinetuneLr(0.1);
    assertEquals(Quickstart.Options.defaults(out), back, "the withers change one field each");
    Quickstart.Row row = new Quickstart.Row("m", 0.9, 10000, 2750, 1000, 60, "sm");
    String table = Quickstart.table(o, new Quickstart.Result(out, 0.5, 1.0 / 12, row, row, 60));
    assertTrue(table.contains("12 patches masked, lr 0.2, gradients clipped to norm 1.5"), table);
  }

  @Test
  void badFlagsAreRefusedByName() {
    Path out = Path.of("qs");
    var steps = assertThrows(IllegalArgumentException.class,
        () -> Quickstart.Options.defaults(out).withSteps(-5, 400, 0));
    assertTrue(steps.getMessage().contains("--pretrain-steps"), steps.getMessage());
    var fraction = assertThrows(IllegalArgumentException.class,
        () -> Quickstart.Options.defaults(out).withLabelFraction(0));
    assertTrue(fraction.getMessage().contains("--label-fraction"), fraction.getMessage());
    var preset = assertThrows(IllegalArgumentException.class,
        () -> Quickstart.Options.defaults(out).withPreset("huge"));
    assertTrue(preset.getMessage().contains("--preset"), preset.getMessage());
    var wd = assertThrows(IllegalArgumentException.class,
        () -> Quickstart.Options.defaults(out).withWeightDecay(-1, null));
    assertTrue(wd.getMessage().contains("--weight-decay"), wd.getMessage());
    var lr = assertThrows(IllegalArgumentException.class,
        () -> Quickstart.Options.defaults(out).withBaselineLr(0));
    assertTrue(lr.getMessage().contains("--baseline-lr"), lr.getMessage());
    var pretrainLr = assertThrows(IllegalArgumentException.class,
        () -> Quickstart.Options.defaults(out).withPretrainLr(-0.1));
    assertTrue(pretrainLr.getMessage().contains("--pretrain-lr"), pretrainLr.getMessage());
    var clip = assertThrows(IllegalArgumentException.class,
        () -> Quickstart.Options.defaults(out).withClipNorm(Double.NaN));
    assertTrue(clip.getMessage().contains("--clip-norm"), clip.getMessage());
  }

  @Test
  void experimentAndQuickstartPassTheVariantsToPretraining() {
    Path out = Path.of("experiment-out");
    ExperimentOptions paper = ExperimentOptions.builder(out).fractions(List.of(0.05)).seeds(1)
        .pretrainSteps(10).finetuneSteps(10).batchSize(8).numMasked(8).probeFraction(0)
        .threads(1).precision("float32").build();
    ExperimentOptions with = paper.toBuilder().variants(ALL).build();
    assertTrue(ExperimentReport.describe(with).contains(ALL.flags() + " "), ExperimentReport.describe(with));
    assertFalse(ExperimentReport.describe(paper).contains("--query-mode"));
    assertEquals(ALL.flags().trim(), Experiment.Budget.of(with).variants());
    assertNull(Experiment.Budget.of(paper).variants(), "budgets written before stay equal");
    Quickstart.Options q = Quickstart.Options.defaults(out).withVariants(ALL);
    assertEquals(ALL, Quickstart.pretrainOptions(q, out).variants());
    assertEquals(Pretrain.Variants.PAPER,
        Quickstart.pretrainOptions(Quickstart.Options.defaults(out), out).variants());
  }
}
