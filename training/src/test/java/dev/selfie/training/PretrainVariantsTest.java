package dev.selfie.training;

import static org.junit.jupiter.api.Assertions.*;

import dev.selfie.data.Split;
import dev.selfie.data.formats.FashionMnist;
import dev.selfie.graph.Classifier;
import dev.selfie.graph.Endpoints;
import dev.selfie.graph.ModelConfig;
import dev.selfie.graph.Selfie;
import dev.selfie.graph.VarStore;
import dev.selfie.training.jobs.Diagnose;
import dev.selfie.training.jobs.Export;
import dev.selfie.training.jobs.Finetune;
import dev.selfie.training.jobs.Pretrain;
import dev.selfie.training.options.CheckpointOptions;
import dev.selfie.training.options.DataOptions;
import dev.selfie.training.options.ScheduleOptions;
import dev.selfie.training.run.Json;
import dev.selfie.training.run.RunDir;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;

/**
 * A pretraining run with every variant flag (context positions, attend queries, content masking,
 * temperature) through the jobs that read it: config.json, resume, the context diagnostic, the
 * SavedModel export (u with positions), and a hybrid-head finetune that restores the positions.
 */
class PretrainVariantsTest {
  static final long STEPS = 6;
  static final Pretrain.Variants ALL = new Pretrain.Variants(true, ModelConfig.QueryMode.ATTEND,
      true, 0.5);
  private static Path run;

  private static Pretrain.Options options(Path out, boolean resume, Pretrain.Variants v)
      throws Exception {
    return Pretrain.Options.defaults(out)
        .withPreset("tiny")
        .withData(DataOptions.of(FashionMnist.NAME, ExportTestRuns.home()).withBatchSize(16))
        .withSchedule(ScheduleOptions.defaults().withSteps(STEPS).withWarmup(0))
        .withCheckpoints(CheckpointOptions.defaults().withResume(resume).withCheckpointEvery(STEPS)
            .withKeep(2).withLogEvery(1000).withSummaryEvery(1000))
        .withRuntime(PretrainFixtures.float32(2))
        .withVariants(v)
        .withExport(false);
  }

  @BeforeAll
  static void pretrainWithEveryVariant() throws Exception {
    run = ExportTestRuns.root().resolve("pretrain-variants");
    Pretrain.Result r = Pretrain.run(options(run, false, ALL));
    assertEquals(STEPS, r.steps());
    assertTrue(Double.isFinite(r.finalLoss()));
  }

  @Test
  void configRecordsTheVariants() {
    ModelConfig m = new RunDir(run).readConfig(Pretrain.Config.class).model();
    assertTrue(m.contextPositions());
    assertEquals(ModelConfig.QueryMode.ATTEND, m.queryMode());
    assertTrue(m.maskContent());
    assertEquals(0.5, m.temperature());
    assertEquals(" --context-positions --query-mode attend --mask-content --temperature 0.5",
        ALL.flags());
  }

  @Test
  void aConfigJsonWrittenBeforeTheVariantsLoadsAsThePaper() throws Exception {
    try (InputStream in = getClass().getResourceAsStream("pretrain-config-before-variants.json")) {
      Pretrain.Config c = Json.MAPPER.readValue(in, Pretrain.Config.class);
      assertTrue(c.model().isPaperFormulation());
      assertEquals(ModelConfig.preset("tiny").withData(1, 10), c.model());
    }
  }

  @Test
  void badVariantFlagsNameTheFlag() {
    var e = assertThrows(IllegalArgumentException.class,
        () -> Pretrain.Variants.parse(false, "dot", false, 0));
    assertTrue(e.getMessage().contains("--query-mode"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class,
        () -> Pretrain.Variants.parse(false, "add", false, -2));
    assertTrue(e.getMessage().contains("--temperature"), e.getMessage());
    assertEquals(Pretrain.Variants.PAPER, Pretrain.Variants.parse(false, "ADD", false, 0));
    ModelConfig tiny = ModelConfig.preset("tiny");
    assertEquals(tiny, Pretrain.Variants.PAPER.apply(tiny));
  }

  @Test
  void resumeRefusesOtherVariantFlags() throws Exception {
    var mlp = new Pretrain.Variants(false, ModelConfig.QueryMode.MLP, false, 0);
    var e = assertThrows(IllegalArgumentException.class,
        () -> Pretrain.run(options(run, true, mlp)));
    assertTrue(e.getMessage().contains("--resume"), e.getMessage());
    // The run's own flags (or none) resume it: here it is complete.
    Pretrain.Result r = Pretrain.run(options(run, true, ALL));
    assertEquals(STEPS, r.steps());
  }

  @Test
  void diagnoseWritesTheThreeAccuracies() throws Exception {
    Path json = run.resolveSibling("diagnose-variants.json");
    Diagnose.Result r = Diagnose.run(new Diagnose.Options(run, null, ExportTestRuns.home(),
        Split.TEST, 20, 10, 3, json));
    assertEquals(20, r.images());
    assertEquals("attend", r.queryMode());
    assertEquals("context tokens", r.context());
    for (double a : new double[] {r.accuracy(), r.zeroedAccuracy(), r.shuffledAccuracy()}) {
      assertTrue(a >= 0 && a <= 1, "accuracy " + a);
    }
    Diagnose.Result back = Json.MAPPER.readValue(Files.readAllBytes(json), Diagnose.Result.class);
    assertEquals(r, back);
    Diagnose.Result again = Diagnose.run(new Diagnose.Options(run, null, ExportTestRuns.home(),
        Split.TEST, 20, 10, 3, json));
    assertEquals(r, again, "fixed masks: the same numbers twice");
  }

  /** The exported u is A over all patches with their positions, as the hybrid head computes it. */
  @Test
  void exportedUHasThePositionsAndMatchesTheTrainingCode() throws Exception {
    Export.run(run);
    ModelConfig model = new RunDir(run).readConfig(Pretrain.Config.class).model();
    byte[] images = ExportTestRuns.fixedImages(ExportRoundTripTest.N);
    Map<String, Map<String, float[]>> got = ExportRoundTripTest.runSavedModel(
        run.resolve("savedmodel/1"), images, Set.of(Endpoints.ATTENTION_POOL));
    Map<String, float[]> want;
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Placeholder<TFloat32> x = tf.placeholder(TFloat32.class,
          Placeholder.shape(Shape.of(-1, 32, 32, 1)));
      VarStore vars = new VarStore(Ops.create(g), 1);
      Map<String, Operand<TFloat32>> outs = new LinkedHashMap<>();
      outs.put("u", Selfie.attentionPoolAll(tf.withSubScope("with"), vars, model, x, null, false));
      outs.put("u_without_positions", Selfie.attentionPoolAll(tf.withSubScope("without"), vars,
          model.withContextPositions(false), x, null, false));
      want = ExportRoundTripTest.runReference(g, x, outs,
          ExportRoundTripTest.latestCheckpoint(run), images);
    }
    ExportRoundTripTest.assertClose(want.get("u"), got.get(Endpoints.ATTENTION_POOL).get("u"),
        "attention_pool/u");
    double diff = 0;
    for (int i = 0; i < want.get("u").length; i++) {
      diff = Math.max(diff, Math.abs(want.get("u")[i] - want.get("u_without_positions")[i]));
    }
    assertTrue(diff > 1e-4, "the positions change u: " + diff);
  }

  @Test
  void hybridFinetuneRestoresThePositionsAndNoQueryVariables() throws Exception {
    Path out = run.resolveSibling("finetune-variants-hybrid");
    Finetune.Result r = Finetune.run(ExportTestRuns.finetuneOptions(out, run, 2, 0.01)
        .withHead(Classifier.Head.HYBRID));
    assertTrue(r.restored().containsAll(List.of(Selfie.ROW_EMBEDDING, Selfie.COL_EMBEDDING)),
        r.restored().toString());
    assertTrue(r.restored().stream().noneMatch(n -> n.startsWith(Selfie.QUERY + "/")));
    assertTrue(r.fresh().stream().allMatch(n -> n.startsWith("classifier/")), r.fresh().toString());
    Finetune.Result resnet = Finetune.run(ExportTestRuns.finetuneOptions(
        run.resolveSibling("finetune-variants-resnet"), run, 2, 0.01));
    assertTrue(resnet.restored().stream().noneMatch(n -> n.startsWith(Selfie.POSITION + "/")));
  }
}
