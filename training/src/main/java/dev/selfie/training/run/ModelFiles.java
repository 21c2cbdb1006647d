package dev.selfie.training.run;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.selfie.graph.ModelConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * What {@code --preset} names: a model preset ({@link ModelConfig#PRESETS}) or a JSON file that
 * describes the model, so a new architecture is a file, not a code change.
 *
 * <p>The file is a JSON object with the fields of {@link ModelConfig} (as in the {@code "model"}
 * object of a run's config.json) plus two shorthands: {@code "preset"} starts from a preset and the
 * other fields replace its values; {@code "depth"} sets {@code stageBlocks} from the depth table
 * ({@link ModelConfig#DEPTHS}). {@code small} with ResNet-26's blocks instead of ResNet-14's:
 *
 * <pre>{@code {"preset": "small", "depth": 26}}</pre>
 *
 * A file without {@code "preset"} must give every field. Unknown fields and invalid values are
 * errors that name the file. {@code channels} and {@code numClasses} are set from the dataset, as
 * for a preset.
 */
public final class ModelFiles {
  private ModelFiles() {}

  /** True when {@code preset} names a model file rather than a preset. */
  public static boolean isFile(String preset) {
    return preset != null && preset.toLowerCase(Locale.ROOT).endsWith(".json");
  }

  /**
   * The model {@code preset} names: the preset of that name, or the model of the JSON file.
   *
   * @throws IllegalArgumentException naming the preset or the file and what was expected
   */
  public static ModelConfig resolve(String preset) {
    return isFile(preset) ? read(Path.of(preset)) : ModelConfig.preset(preset);
  }

  /** Reads a model file (see the class comment). */
  public static ModelConfig read(Path file) {
    if (!Files.isRegularFile(file)) {
      throw new IllegalArgumentException("model file " + file + " not found (expected a preset"
          + " name, one of " + ModelConfig.PRESETS + ", or a .json model file)");
    }
    JsonNode root;
    try {
      root = Json.MAPPER.readTree(file.toFile());
    } catch (IOException e) {
      throw new IllegalArgumentException("model file " + file + " is not valid JSON: "
          + e.getMessage(), e);
    }
    if (root == null || !root.isObject()) {
      throw new IllegalArgumentException("model file " + file
          + ": expected a JSON object such as {\"preset\": \"small\", \"depth\": 26}");
    }
    ObjectNode fields = ((ObjectNode) root).deepCopy();
    try {
      ObjectNode model;
      JsonNode base = fields.remove("preset");
      if (base != null) {
        if (!base.isTextual()) {
          throw new IllegalArgumentException("\"preset\" must be a preset name, one of "
              + ModelConfig.PRESETS + ", got " + base);
        }
        model = Json.MAPPER.valueToTree(ModelConfig.preset(base.asText()));
      } else {
        model = Json.MAPPER.createObjectNode();
      }
      JsonNode depth = fields.remove("depth");
      if (depth != null) {
        if (!depth.canConvertToInt() || !depth.isIntegralNumber()) {
          throw new IllegalArgumentException("\"depth\" must be an integer, one of "
              + ModelConfig.DEPTHS.keySet() + ", got " + depth);
        }
        if (fields.has("stageBlocks")) {
          throw new IllegalArgumentException("give \"depth\" or \"stageBlocks\", not both");
        }
        model.set("stageBlocks", Json.MAPPER.valueToTree(ModelConfig.stageBlocksOf(depth.asInt())));
      }
      model.setAll(fields);
      return Json.MAPPER.treeToValue(model, ModelConfig.class);
    } catch (IOException e) {
      String why = e.getCause() instanceof IllegalArgumentException bad ? bad.getMessage()
          : e.getMessage();
      throw new IllegalArgumentException("model file " + file + ": " + why, e);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("model file " + file + ": " + e.getMessage(), e);
    }
  }
}
