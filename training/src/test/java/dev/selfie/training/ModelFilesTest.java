package dev.selfie.training;

import static org.junit.jupiter.api.Assertions.*;

import dev.selfie.data.formats.FashionMnist;
import dev.selfie.graph.ModelConfig;
import dev.selfie.training.jobs.Finetune;
import dev.selfie.training.jobs.Pretrain;
import dev.selfie.training.options.CheckpointOptions;
import dev.selfie.training.options.DataOptions;
import dev.selfie.training.options.ScheduleOptions;
import dev.selfie.training.run.Json;
import dev.selfie.training.run.ModelFiles;
import dev.selfie.training.run.RunDir;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code --preset FILE.json}: a model file on top of a preset, read by every job. */
class ModelFilesTest {
  @TempDir Path dir;

  private Path file(String name, String json) throws Exception {
    Path f = dir.resolve(name);
    Files.writeString(f, json);
    return f;
  }

  @Test
  void presetNamesStillResolveToThePresets() {
    for (String p : ModelConfig.PRESETS) {
      assertEquals(ModelConfig.preset(p), ModelFiles.resolve(p));
    }
    assertFalse(ModelFiles.isFile("small"));
    assertTrue(ModelFiles.isFile("models/deep.JSON"));
  }

  @Test
  void aFileChangesAPresetsDepthAndNothingElse() throws Exception {
    Path f = file("deep.json", "{\"preset\": \"tiny\", \"depth\": 26}");
    ModelConfig m = ModelFiles.resolve(f.toString());
    assertEquals(List.of(2, 2, 2, 2), m.stageBlocks());
    assertEquals(26, m.depth());
    assertEquals(ModelConfig.preset("tiny").toBuilder().stageBlocks(List.of(2, 2, 2, 2)).build(),
        m);
  }

  @Test
  void otherFieldsReplaceThePresetsValues() throws Exception {
    Path f = file("wide.json", "{\"preset\": \"tiny\", \"stageWidths\": [16, 32, 64, 64],"
        + " \"d\": 64, \"numMasked\": 3}");
    ModelConfig m = ModelFiles.resolve(f.toString());
    assertEquals(List.of(16, 32, 64, 64), m.stageWidths());
    assertEquals(64, m.d());
    assertEquals(3, m.numMasked());
    assertEquals(ModelConfig.preset("tiny").layers(), m.layers());
  }

  @Test
  void theModelObjectOfAConfigJsonIsAModelFile() throws Exception {
    ModelConfig small = ModelConfig.preset("small").withData(1, 10);
    Path f = file("model.json", Json.MAPPER.writeValueAsString(small));
    assertEquals(small, ModelFiles.resolve(f.toString()));
  }

  @Test
  void badFilesAreNamedWithWhatWasExpected() throws Exception {
    Path missing = dir.resolve("nope.json");
    var e = assertThrows(IllegalArgumentException.class,
        () -> ModelFiles.resolve(missing.toString()));
    assertTrue(e.getMessage().contains(missing.toString()), e.getMessage());

    Path unknown = file("unknown.json", "{\"preset\": \"tiny\", \"widht\": 3}");
    e = assertThrows(IllegalArgumentException.class, () -> ModelFiles.resolve(unknown.toString()));
    assertTrue(e.getMessage().contains(unknown.toString()) && e.getMessage().contains("widht"),
        e.getMessage());

    Path invalid = file("invalid.json", "{\"preset\": \"tiny\", \"d\": 48}");
    e = assertThrows(IllegalArgumentException.class, () -> ModelFiles.resolve(invalid.toString()));
    assertTrue(e.getMessage().contains(invalid.toString())
        && e.getMessage().contains("stage-3 width"), e.getMessage());

    Path depth = file("depth.json", "{\"preset\": \"tiny\", \"depth\": 18}");
    e = assertThrows(IllegalArgumentException.class, () -> ModelFiles.resolve(depth.toString()));
    assertTrue(e.getMessage().contains("depth 18"), e.getMessage());

    Path array = file("array.json", "[1, 2]");
    e = assertThrows(IllegalArgumentException.class, () -> ModelFiles.resolve(array.toString()));
    assertTrue(e.getMessage().contains("JSON object"), e.getMessage());

    Path incomplete = file("incomplete.json", "{\"imageSize\": 32}");
    e = assertThrows(IllegalArgumentException.class,
        () -> ModelFiles.resolve(incomplete.toString()));
    assertTrue(e.getMessage().contains(incomplete.toString()), e.getMessage());

    e = assertThrows(IllegalArgumentException.class, () -> Pretrain.checkPreset("smal"));
    assertTrue(e.getMessage().startsWith("--preset"), e.getMessage());
  }

  @Test
  void pretrainAndTheBaselineBuildTheFilesModel() throws Exception {
    PretrainFixtures.assumeFashionMnist("a model file through pretrain and finetune");
    Path f = file("deep.json", "{\"preset\": \"tiny\", \"depth\": 26}");
    Path pre = dir.resolve("pre");
    Pretrain.run(Pretrain.Options.defaults(pre)
        .withPreset(f.toString())
        .withData(DataOptions.of(FashionMnist.NAME, ExportTestRuns.home()).withBatchSize(8))
        .withSchedule(ScheduleOptions.defaults().withSteps(2).withWarmup(0))
        .withCheckpoints(CheckpointOptions.defaults().withCheckpointEvery(2).withLogEvery(1000)
            .withSummaryEvery(1000))
        .withRuntime(PretrainFixtures.float32(2))
        .withExport(false));
    ModelConfig pretrained = new RunDir(pre).readConfig(Pretrain.Config.class).model();
    assertEquals(List.of(2, 2, 2, 2), pretrained.stageBlocks());

    Path base = dir.resolve("base");
    Finetune.run(Finetune.Options.defaults(base)
        .withPreset(f.toString())
        .withLabels(Finetune.Labels.fraction(0.01))
        .withData(DataOptions.of(FashionMnist.NAME, ExportTestRuns.home()).withBatchSize(8))
        .withSchedule(ScheduleOptions.defaults().withSteps(2).withWarmup(0))
        .withCheckpoints(CheckpointOptions.defaults().withCheckpointEvery(2).withLogEvery(1000)
            .withSummaryEvery(1000))
        .withRuntime(PretrainFixtures.float32(2))
        .withEvalBatchSize(500)
        .withExport(false));
    assertEquals(pretrained, new RunDir(base).readConfig(Finetune.Config.class).model());
  }
}
