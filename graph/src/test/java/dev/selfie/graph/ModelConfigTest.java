package dev.selfie.graph;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.selfie.graph.ModelConfig.QueryMode;
import dev.selfie.graph.ModelConfig.Stem;
import java.lang.reflect.RecordComponent;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
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

  /** The paper preset in full, as its config.json reads (independent of the builder). */
  @Test
  void paperPresetIsPinned() throws Exception {
    String expected = """
        {"imageSize":32,"channels":3,"numClasses":10,"patchSize":8,"numMasked":4,\
        "stem":"CONV3X3","stemWidth":64,"stageWidths":[256,512,1024,2048],\
        "stageBlocks":[3,4,6,3],"d":1024,"layers":3,"heads":32,"ffn":640,"dropout":0.1,\
        "zeroInitLast":true,"bnMomentum":0.9,"bnEpsilon":1.0E-5,"lnEpsilon":1.0E-6,\
        "temperature":1.0,"contextPositions":false,"queryMode":"ADD","maskContent":false}""";
    assertEquals(expected, new ObjectMapper().writeValueAsString(ModelConfig.preset("paper")));
    assertEquals(50, ModelConfig.preset("paper").depth());
  }

  /** Every other preset is paper with a few values changed, and only those. */
  @Test
  void presetsDifferFromPaperInTheseValuesOnly() throws Exception {
    ModelConfig paper = ModelConfig.preset("paper");
    assertEquals(Map.of("imageSize", 224, "patchSize", 32, "numMasked", 12,
        "stem", Stem.IMAGENET, "numClasses", 1000), changes(paper, preset("paper224")));
    assertEquals(Map.of("stemWidth", 16, "stageWidths", List.of(64, 128, 256, 512),
        "stageBlocks", List.of(1, 1, 1, 1), "d", 256, "heads", 4, "ffn", 160),
        changes(paper, preset("small")));
    assertEquals(Map.of("stemWidth", 8, "stageWidths", List.of(16, 32, 32, 64),
        "stageBlocks", List.of(1, 1, 1, 1), "d", 32, "layers", 2, "heads", 2, "ffn", 48,
        "zeroInitLast", false), changes(paper, preset("tiny")));
    assertEquals(14, preset("small").depth());
    assertEquals(14, preset("tiny").depth());
  }

  private static ModelConfig preset(String name) {
    return ModelConfig.preset(name);
  }

  /** The record components in which {@code b} differs from {@code a}, with b's values. */
  private static Map<String, Object> changes(ModelConfig a, ModelConfig b) throws Exception {
    Map<String, Object> changed = new LinkedHashMap<>();
    for (RecordComponent c : ModelConfig.class.getRecordComponents()) {
      Object va = c.getAccessor().invoke(a);
      Object vb = c.getAccessor().invoke(b);
      if (!va.equals(vb)) {
        changed.put(c.getName(), vb);
      }
    }
    return changed;
  }

  @Test
  void depthTableIsTheBottleneckResNets() {
    assertEquals(Map.of(14, List.of(1, 1, 1, 1), 26, List.of(2, 2, 2, 2),
        50, List.of(3, 4, 6, 3), 101, List.of(3, 4, 23, 3), 152, List.of(3, 8, 36, 3)),
        ModelConfig.DEPTHS);
    assertEquals(List.of(14, 26, 50, 101, 152), List.copyOf(ModelConfig.DEPTHS.keySet()));
    ModelConfig t = preset("tiny");
    for (var e : ModelConfig.DEPTHS.entrySet()) {
      // three convs per bottleneck block, plus the stem conv and the classifier's dense layer
      int convs = 3 * e.getValue().stream().mapToInt(Integer::intValue).sum();
      assertEquals(e.getKey(), convs + 2, "depth " + e.getKey());
      ModelConfig c = t.toBuilder().depth(e.getKey()).build();
      assertEquals(e.getValue(), c.stageBlocks());
      assertEquals(e.getKey(), c.depth());
    }
    assertInvalid("no ResNet depth 18 in the depth table, expected one of [14, 26, 50, 101, 152]",
        () -> ModelConfig.builder().depth(18));
  }

  @Test
  void builderCopiesAndChangesByName() {
    for (String name : ModelConfig.PRESETS) {
      ModelConfig c = preset(name);
      assertEquals(c, c.toBuilder().build());
      assertEquals(c.withData(1, 7), c.toBuilder().channels(1).numClasses(7).build());
    }
    ModelConfig t = preset("tiny");
    ModelConfig v = t.toBuilder().numMasked(5).dropout(0).zeroInitLast(true).temperature(0.5)
        .contextPositions(true).queryMode(QueryMode.ATTEND).maskContent(true).build();
    assertEquals(t.withNumMasked(5).withDropout(0).withZeroInitLast(true).withTemperature(0.5)
        .withContextPositions(true).withQueryMode(QueryMode.ATTEND).withMaskContent(true), v);
    assertEquals(QueryMode.ADD, t.toBuilder().queryMode(null).build().queryMode());
    ModelConfigBuilder b = t.toBuilder();
    assertEquals(t.withNumMasked(2), b.numMasked(2).build());
    assertEquals(t.withNumMasked(3), b.numMasked(3).build(), "a builder builds again");
  }

  @Test
  void builderDefaultsAreThePresetsShared() {
    ModelConfig built = ModelConfig.builder()
        .imageSize(32).numClasses(10).patchSize(8).numMasked(4)
        .stem(Stem.CONV3X3).stemWidth(64).stageWidths(List.of(256, 512, 1024, 2048)).depth(50)
        .d(1024).layers(3).heads(32).ffn(640)
        .build();
    assertEquals(preset("paper"), built);
    assertInvalid("invalid model config: imageSize must be > 0, got 0",
        () -> ModelConfig.builder().build());
    assertInvalid("invalid model config: stem must be set",
        () -> preset("tiny").toBuilder().stem(null).build());
  }

  @Test
  void invalidConfigsThrowClearMessages() {
    ModelConfig t = preset("tiny");
    assertInvalid("invalid model config: d (48) must equal the stage-3 width 32",
        () -> t.toBuilder().d(48).build());
    assertInvalid("heads (3) must divide d (32)", () -> t.toBuilder().heads(3).build());
    assertInvalid("numMasked must be in [2, n-1]", () -> t.withNumMasked(17));
    assertInvalid("numMasked must be in [2, n-1]", () -> t.withNumMasked(16));
    assertInvalid("imageSize 30 is not divisible by patchSize 8",
        () -> t.toBuilder().imageSize(30).build());
    assertInvalid("IMAGENET stem", () -> t.toBuilder().stem(Stem.IMAGENET).build());
    assertInvalid("dropout", () -> t.withDropout(1.0));
    assertInvalid("channels", () -> t.withData(0, 10));
    assertInvalid("stageWidths must list 4",
        () -> t.toBuilder().stageWidths(List.of(16, 32, 32)).build());
    assertInvalid("every stage needs >= 1 block",
        () -> t.toBuilder().stageBlocks(List.of(1, 0, 1, 1)).build());
  }

  /** The builder and the canonical constructor reject the same config with the same message. */
  @Test
  void builderAndConstructorRejectAlike() {
    var fromBuilder = assertThrows(IllegalArgumentException.class,
        () -> preset("tiny").toBuilder().heads(3).build());
    var fromConstructor = assertThrows(IllegalArgumentException.class,
        () -> new ModelConfig(32, 3, 10, 8, 4, Stem.CONV3X3, 8, List.of(16, 32, 32, 64),
            List.of(1, 1, 1, 1), 32, 2, 3, 48, 0.1, false, 0.9, 1e-5, 1e-6, 1.0, false,
            QueryMode.ADD, false));
    assertEquals(fromConstructor.getMessage(), fromBuilder.getMessage());
  }

  private static void assertInvalid(String fragment, Runnable r) {
    var e = assertThrows(IllegalArgumentException.class, r::run);
    assertTrue(e.getMessage().contains(fragment), "message '" + e.getMessage() + "' lacks '"
        + fragment + "'");
  }
}
