package dev.selfie.training.loop;

import com.fasterxml.jackson.databind.JsonNode;
import com.google.protobuf.ByteString;
import com.google.protobuf.CodedOutputStream;
import com.google.protobuf.Value;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Iterator;
import java.util.Map;
import java.util.TreeMap;
import org.tensorflow.proto.DataType;
import org.tensorflow.proto.Summary;
import org.tensorflow.proto.SummaryMetadata;
import org.tensorflow.proto.TensorProto;
import org.tensorflow.proto.TensorShapeProto;

/**
 * A run's hyperparameters as TensorBoard's HParams plugin reads them: a summary tagged
 * {@value #TAG} whose metadata carries an {@code HParamsPluginData} message
 * (tensorboard/plugins/hparams/plugin_data.proto) holding a {@code SessionStartInfo} with the
 * hyperparameters as {@code google.protobuf.Value}s. TensorFlow Java has no class for that
 * message, so its four fields are written here by number; TensorBoard infers the metric columns
 * from the run's scalars.
 */
public final class HParams {
  public static final String TAG = "_hparams_/session_start_info";
  static final String PLUGIN = "hparams";

  private HParams() {}

  /** Every number, boolean and string of {@code config}, nested keys joined with dots. */
  static Map<String, Value> flatten(JsonNode config) {
    Map<String, Value> out = new TreeMap<>();
    flatten("", config, out);
    return out;
  }

  private static void flatten(String prefix, JsonNode node, Map<String, Value> out) {
    if (node.isObject()) {
      for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
        Map.Entry<String, JsonNode> e = it.next();
        flatten(prefix.isEmpty() ? e.getKey() : prefix + "." + e.getKey(), e.getValue(), out);
      }
    } else if (node.isNumber()) {
      out.put(prefix, Value.newBuilder().setNumberValue(node.asDouble()).build());
    } else if (node.isBoolean()) {
      out.put(prefix, Value.newBuilder().setBoolValue(node.asBoolean()).build());
    } else if (node.isTextual()) {
      out.put(prefix, Value.newBuilder().setStringValue(node.asText()).build());
    }
    // arrays and nulls: not hyperparameters TensorBoard can show
  }

  /** The serialized {@code Summary} to write with a raw-proto summary op. */
  public static byte[] sessionStartSummary(JsonNode config, double startTimeSecs) {
    SummaryMetadata metadata = SummaryMetadata.newBuilder()
        .setPluginData(SummaryMetadata.PluginData.newBuilder()
            .setPluginName(PLUGIN)
            .setContent(ByteString.copyFrom(pluginData(flatten(config), startTimeSecs))))
        .build();
    return Summary.newBuilder()
        .addValue(Summary.Value.newBuilder()
            .setTag(TAG)
            .setMetadata(metadata)
            .setTensor(TensorProto.newBuilder().setDtype(DataType.DT_FLOAT)
                .setTensorShape(TensorShapeProto.getDefaultInstance()).addFloatVal(0f)))
        .build().toByteArray();
  }

  /**
   * {@code HParamsPluginData{version = 0 (field 1, default), session_start_info = 3}} with
   * {@code SessionStartInfo{hparams = 1 (map<string, Value>), start_time_secs = 5}}.
   */
  static byte[] pluginData(Map<String, Value> hparams, double startTimeSecs) {
    byte[] start = message(out -> {
      for (Map.Entry<String, Value> e : hparams.entrySet()) {
        out.writeByteArray(1, message(entry -> {
          entry.writeString(1, e.getKey());
          entry.writeMessage(2, e.getValue());
        }));
      }
      out.writeDouble(5, startTimeSecs);
    });
    return message(out -> out.writeByteArray(3, start));
  }

  private interface Fields {
    void write(CodedOutputStream out) throws IOException;
  }

  private static byte[] message(Fields fields) {
    try {
      ByteArrayOutputStream bytes = new ByteArrayOutputStream();
      CodedOutputStream out = CodedOutputStream.newInstance(bytes);
      fields.write(out);
      out.flush();
      return bytes.toByteArray();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
