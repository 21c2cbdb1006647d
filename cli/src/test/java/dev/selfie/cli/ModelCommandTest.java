package dev.selfie.cli;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.selfie.graph.ModelConfig;
import org.junit.jupiter.api.Test;

class ModelCommandTest {


  @Test
  void jsonSummaryOfThePaperPreset() throws Exception {
    CliRun r = CliRun.run("model", "summary", "--preset", "paper", "--json");
    assertEquals(0, r.code(), r.err());
    JsonNode json = new ObjectMapper().readTree(r.out());
    assertEquals(1024, json.at("/config/d").asInt());
    long trunk = -1;
    for (JsonNode c : json.get("components")) {
      if (c.get("name").asText().equals("resnet_trunk")) {
        trunk = c.get("params").asLong();
      }
    }
    assertTrue(trunk > 23_400_000 && trunk < 23_600_000, "ResNet-50 v2 trunk " + trunk);
    assertTrue(json.at("/flopsPerImage/pretrain").asLong() > 1_000_000_000L);
    // The config in the JSON reads back as the preset.
    ModelConfig back = new ObjectMapper().treeToValue(json.get("config"), ModelConfig.class);
    assertEquals(ModelConfig.preset("paper"), back);
  }

  @Test
  void tableAndDataOverrides() {
    CliRun r = CliRun.run("model", "summary", "--preset", "small", "--channels", "1", "--classes", "5");
    assertEquals(0, r.code(), r.err());
    assertTrue(r.out().contains("32x32x1 images"), r.out());
    assertTrue(r.out().contains("patch_network_P"), r.out());
    assertTrue(r.out().contains("forward FLOPs per image"), r.out());
    assertTrue(r.out().contains("classes=5"), r.out());
  }

  @Test
  void unknownPresetIsABadInput() {
    CliRun r = CliRun.run("model", "summary", "--preset", "huge");
    assertEquals(2, r.code());
    assertTrue(r.err().contains("unknown model preset 'huge'"), r.err());
  }
}
