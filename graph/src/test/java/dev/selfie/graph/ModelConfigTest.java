package dev.selfie.graph;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.List;
import org.junit.jupiter.api.Test;

class ModelConfigTest {

  @Test
  void presetsHaveThePaperGeometry() {
    ModelConfig paper = ModelConfig.preset("paper");
    assertEquals(16, paper.numPatches());
    assertEquals(4, paper.numMasked());
    assertEquals(List.of(3, 4, 6, 3), paper.stageBlocks());
    assertEquals(List.of(256, 512, 1024, 2048), paper.stageWidths());
    assertEquals(1024, paper.d());
    assertEquals(32, paper.heads());
    assertEquals(640, paper.ffn());
    assertEquals(3, paper.layers());
    assertEquals(ModelConfig.Stem.CONV3X3, paper.stem());
    ModelConfig p224 = ModelConfig.preset("paper224");
    assertEquals(49, p224.numPatches());
    assertEquals(12, p224.numMasked());
    assertEquals(7, p224.grid());
    assertEquals(ModelConfig.Stem.IMAGENET, p224.stem());
    assertEquals(256, ModelConfig.preset("small").d());
    assertEquals(32, ModelConfig.preset("tiny").d());
    for (String name : ModelConfig.PRESETS) {
      assertNotNull(ModelConfig.preset(name));
    }
    var e = assertThrows(IllegalArgumentException.class, () -> ModelConfig.preset("huge"));
    assertTrue(e.getMessage().contains("huge") && e.getMessage().contains("paper224"));
  }

  @Test
  void jsonRoundTrip() throws Exception {
    ObjectMapper json = new ObjectMapper();
    for (String name : ModelConfig.PRESETS) {
      ModelConfig c = ModelConfig.preset(name).withData(1, 7);
      String text = json.writeValueAsString(c);
      assertFalse(text.contains("grid"), "derived values are not serialised: " + text);
      ModelConfig back = json.readValue(text, ModelConfig.class);
      assertEquals(c, back);
      assertEquals(1, back.channels());
      assertEquals(7, back.numClasses());
    }
  }

  @Test
  void invalidConfigsThrowClearMessages() {
    ModelConfig t = ModelConfig.preset("tiny");
    assertInvalid("must equal the stage-3 width", () -> new ModelConfig(32, 3, 10, 8, 4,
        ModelConfig.Stem.CONV3X3, 8, List.of(16, 32, 32, 64), List.of(1, 1, 1, 1),
        48, 2, 2, 48, 0.1, false, 0.9, 1e-5, 1e-6, 1.0,
        false, ModelConfig.QueryMode.ADD, false));
    assertInvalid("heads (3) must divide d (32)", () -> new ModelConfig(32, 3, 10, 8, 4,
        ModelConfig.Stem.CONV3X3, 8, List.of(16, 32, 32, 64), List.of(1, 1, 1, 1),
        32, 2, 3, 48, 0.1, false, 0.9, 1e-5, 1e-6, 1.0,
        false, ModelConfig.QueryMode.ADD, false));
    assertInvalid("numMasked must be in [2, n-1]", () -> t.withNumMasked(17));
    assertInvalid("numMasked must be in [2, n-1]", () -> t.withNumMasked(16));
    assertInvalid("not divisible by patchSize", () -> new ModelConfig(30, 3, 10, 8, 4,
        ModelConfig.Stem.CONV3X3, 8, List.of(16, 32, 32, 64), List.of(1, 1, 1, 1),
        32, 2, 2, 48, 0.1, false, 0.9, 1e-5, 1e-6, 1.0,
        false, ModelConfig.QueryMode.ADD, false));
    assertInvalid("IMAGENET stem", () -> new ModelConfig(32, 3, 10, 8, 4,
        ModelConfig.Stem.IMAGENET, 8, List.of(16, 32, 32, 64), List.of(1, 1, 1, 1),
        32, 2, 2, 48, 0.1, false, 0.9, 1e-5, 1e-6, 1.0,
        false, ModelConfig.QueryMode.ADD, false));
    assertInvalid("dropout", () -> t.withDropout(1.0));
    assertInvalid("channels", () -> t.withData(0, 10));
    assertInvalid("stageWidths must list 4", () -> new ModelConfig(32, 3, 10, 8, 4,
        ModelConfig.Stem.CONV3X3, 8, List.of(16, 32, 32), List.of(1, 1, 1, 1),
        32, 2, 2, 48, 0.1, false, 0.9, 1e-5, 1e-6, 1.0,
        false, ModelConfig.QueryMode.ADD, false));
  }

  private static void assertInvalid(String fragment, Runnable r) {
    var e = assertThrows(IllegalArgumentException.class, r::run);
    assertTrue(e.getMessage().contains(fragment), "message '" + e.getMessage() + "' lacks '"
        + fragment + "'");
  }
}
