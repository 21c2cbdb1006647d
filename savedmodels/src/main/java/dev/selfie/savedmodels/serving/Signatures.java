package dev.selfie.savedmodels.serving;

import java.util.Arrays;
import java.util.Collections;
import java.util.Map;
import org.tensorflow.proto.DataType;
import org.tensorflow.proto.SignatureDef;
import org.tensorflow.proto.TensorInfo;
import org.tensorflow.proto.TensorShapeProto;

/** {@link ModelServer}'s view of signature defs, and the check of a request against one. */
public final class Signatures {
  private Signatures() {}

  /** Checks names, dtypes and shapes; returns the batch size (dim 0), or -1 if not batchable. */
  static long validate(ModelServer.SignatureSpec sig, Map<String, HostTensor> inputs) {
    if (!inputs.keySet().equals(sig.inputs().keySet())) {
      throw new ModelServer.BadRequestException(
          "signature '" + sig.key() + "' takes inputs " + sig.inputs().keySet() + ", got "
              + new java.util.TreeSet<>(inputs.keySet()));
    }
    long batch = -2;
    for (Map.Entry<String, ModelServer.TensorSpec> e : sig.inputs().entrySet()) {
      HostTensor t = inputs.get(e.getKey());
      ModelServer.TensorSpec spec = e.getValue();
      if (t.dtype() != spec.dtype()) {
        throw new ModelServer.BadRequestException(
            "input '" + e.getKey() + "' must be " + dtypeName(spec.dtype()) + ", got "
                + dtypeName(t.dtype()));
      }
      long[] want = spec.shape();
      if (want != null) {
        boolean ok = want.length == t.shape().length;
        for (int i = 0; ok && i < want.length; i++) {
          ok = want[i] < 0 || want[i] == t.shape()[i];
        }
        if (!ok) {
          throw new ModelServer.BadRequestException(
              "input '" + e.getKey() + "' must have shape " + shapeString(want) + ", got "
                  + shapeString(t.shape()));
        }
      }
      if (sig.batchable()) {
        if (t.shape()[0] == 0) {
          throw new ModelServer.BadRequestException("input '" + e.getKey() + "' has an empty batch");
        }
        if (batch != -2 && batch != t.shape()[0]) {
          throw new ModelServer.BadRequestException(
              "inputs of signature '" + sig.key() + "' must have the same batch size, got "
                  + batch + " and " + t.shape()[0]);
        }
        batch = t.shape()[0];
      }
    }
    return sig.batchable() ? batch : -1;
  }

  private static final String INIT_OP_KEY = "__saved_model_init_op";

  /** The serving signatures of a meta graph (not the init op), by key, sorted. */
  static Map<String, ModelServer.SignatureSpec> of(Map<String, SignatureDef> defs) {
    Map<String, ModelServer.SignatureSpec> sigs = new java.util.TreeMap<>();
    defs.forEach((key, def) -> {
      if (!key.equals(INIT_OP_KEY)) {
        sigs.put(key, spec(key, def));
      }
    });
    return Collections.unmodifiableMap(sigs);
  }

  static ModelServer.SignatureSpec spec(String key, SignatureDef def) {
    return new ModelServer.SignatureSpec(
        key, def.getMethodName(), specs(def.getInputsMap()), specs(def.getOutputsMap()));
  }

  private static Map<String, ModelServer.TensorSpec> specs(Map<String, TensorInfo> infos) {
    Map<String, ModelServer.TensorSpec> out = new java.util.TreeMap<>();
    infos.forEach(
        (name, info) -> {
          TensorShapeProto s = info.getTensorShape();
          long[] shape =
              s.getUnknownRank() ? null : s.getDimList().stream().mapToLong(TensorShapeProto.Dim::getSize).toArray();
          String tensor = info.getName().contains(":") ? info.getName() : info.getName() + ":0";
          out.put(name, new ModelServer.TensorSpec(tensor, info.getDtype(), shape));
        });
    return Collections.unmodifiableMap(out);
  }

  /** "float32", "uint8", ... (numpy / TF Python spelling), for messages. */
  public static String dtypeName(DataType dt) {
    return switch (dt) {
      case DT_FLOAT -> "float32";
      case DT_DOUBLE -> "float64";
      case DT_HALF -> "float16";
      case DT_BFLOAT16 -> "bfloat16";
      case DT_INT32 -> "int32";
      case DT_INT64 -> "int64";
      case DT_UINT8 -> "uint8";
      case DT_UINT16 -> "uint16";
      case DT_BOOL -> "bool";
      case DT_STRING -> "string";
      default -> dt.name();
    };
  }

  /** A shape for error messages: {@code [-1, 32, 32, 3]}, or {@code <unknown rank>} for null. */
  public static String shapeString(long[] shape) {
    return shape == null ? "<unknown rank>" : Arrays.toString(shape);
  }
}
