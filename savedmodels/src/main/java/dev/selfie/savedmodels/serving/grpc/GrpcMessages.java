package dev.selfie.savedmodels.serving.grpc;

import dev.selfie.savedmodels.serving.ModelServer;
import dev.selfie.savedmodels.serving.HostTensor;
import com.google.protobuf.Any;
import com.google.protobuf.Int64Value;
import dev.selfie.graph.Endpoints;
import dev.selfie.savedmodels.tfserving.GetModelMetadataRequest;
import dev.selfie.savedmodels.tfserving.GetModelMetadataResponse;
import dev.selfie.savedmodels.tfserving.GetModelStatusResponse;
import dev.selfie.savedmodels.tfserving.ModelSpec;
import dev.selfie.savedmodels.tfserving.ModelVersionStatus;
import dev.selfie.savedmodels.tfserving.PredictRequest;
import dev.selfie.savedmodels.tfserving.PredictResponse;
import dev.selfie.savedmodels.tfserving.SignatureDefMap;
import dev.selfie.savedmodels.tfserving.StatusProto;
import io.grpc.Status;
import io.grpc.StatusException;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.tensorflow.proto.SignatureDef;
import org.tensorflow.proto.TensorInfo;
import org.tensorflow.proto.TensorProto;
import org.tensorflow.proto.TensorShapeProto;

/**
 * TensorFlow Serving's gRPC request and response messages to and from this server's types
 * ({@link GrpcServices} does the serving): the signature and outputs a {@code Predict} asks for,
 * its inputs as {@link HostTensor}s, and the {@code Predict}, {@code GetModelMetadata} and
 * {@code GetModelStatus} answers. Tensors themselves are {@link TensorProtoCodec}.
 */
final class GrpcMessages {
  private GrpcMessages() {}

  static final String SIGNATURE_DEF = "signature_def";

  /** The signature key a spec asks for ({@code serving_default} if none). */
  static String signatureKey(ModelSpec spec) {
    return spec.getSignatureName().isEmpty() ? Endpoints.SERVING_DEFAULT
        : spec.getSignatureName();
  }

  /**
   * The inputs of a {@code Predict} request by alias.
   *
   * @param maxBytes most bytes one decoded tensor may take ({@link TensorProtoCodec#toHost})
   */
  static Map<String, HostTensor> inputs(PredictRequest req, long maxBytes)
      throws StatusException {
    Map<String, HostTensor> inputs = new LinkedHashMap<>();
    for (Map.Entry<String, TensorProto> e : req.getInputsMap().entrySet()) {
      inputs.put(e.getKey(), TensorProtoCodec.toHost(e.getKey(), e.getValue(), maxBytes));
    }
    return inputs;
  }

  /** The outputs to answer: every output of the signature, or the filter's (checked). */
  static List<String> outputFilter(List<String> filter, ModelServer.SignatureSpec sig)
      throws StatusException {
    if (filter.isEmpty()) {
      return List.copyOf(sig.outputs().keySet());
    }
    Set<String> seen = new LinkedHashSet<>();
    for (String name : filter) {
      if (!sig.outputs().containsKey(name)) {
        throw Status.INVALID_ARGUMENT.withDescription("output tensor alias not found in"
            + " signature: " + name + "; signature '" + sig.key() + "' has outputs "
            + sig.outputs().keySet()).asException();
      }
      if (!seen.add(name)) {
        throw Status.INVALID_ARGUMENT.withDescription("duplicate output tensor alias in"
            + " output_filter: " + name).asException();
      }
    }
    return List.copyOf(seen);
  }

  /** The answer to a {@code Predict}: the {@code wanted} outputs and the model spec that ran. */
  static PredictResponse predictResponse(String name, long version, String signature,
      List<String> wanted, Map<String, HostTensor> out) {
    PredictResponse.Builder r = PredictResponse.newBuilder();
    r.getModelSpecBuilder().setName(name)
        .setVersion(Int64Value.of(version)).setSignatureName(signature);
    for (String output : wanted) {
      r.putOutputs(output, TensorProtoCodec.toProto(out.get(output)));
    }
    return r.build();
  }

  /** Checks that a metadata request asks for {@code signature_def} and nothing else. */
  static void checkMetadataFields(GetModelMetadataRequest req) throws StatusException {
    if (req.getMetadataFieldCount() == 0) {
      throw Status.INVALID_ARGUMENT.withDescription("GetModelMetadataRequest must specify"
          + " at least one metadata_field (this server knows \"" + SIGNATURE_DEF + "\")")
          .asException();
    }
    for (String field : req.getMetadataFieldList()) {
      if (!field.equals(SIGNATURE_DEF)) {
        throw Status.INVALID_ARGUMENT.withDescription("Metadata field " + field
            + " is not supported (this server knows \"" + SIGNATURE_DEF + "\")")
            .asException();
      }
    }
  }

  /** The answer to {@code GetModelMetadata}: a packed {@code SignatureDefMap} of the model. */
  static GetModelMetadataResponse metadataResponse(String name, long version,
      ModelServer model) {
    SignatureDefMap.Builder defs = SignatureDefMap.newBuilder();
    model.signatures().forEach((k, sig) -> defs.putSignatureDef(k, signatureDef(sig)));
    GetModelMetadataResponse.Builder r = GetModelMetadataResponse.newBuilder();
    r.getModelSpecBuilder().setName(name).setVersion(Int64Value.of(version));
    r.putMetadata(SIGNATURE_DEF, Any.pack(defs.build()));
    return r.build();
  }

  /** The answer to {@code GetModelStatus}: every version given, AVAILABLE. */
  static GetModelStatusResponse statusResponse(Iterable<Long> versions) {
    GetModelStatusResponse.Builder r = GetModelStatusResponse.newBuilder();
    for (long v : versions) {
      r.addModelVersionStatus(ModelVersionStatus.newBuilder().setVersion(v)
          .setState(ModelVersionStatus.State.AVAILABLE)
          .setStatus(StatusProto.newBuilder()
              .setErrorCode(org.tensorflow.proto.error.Code.OK).setErrorMessage("")));
    }
    return r.build();
  }

  /** A signature as TensorFlow's SignatureDef (what the SavedModel holds). */
  static SignatureDef signatureDef(ModelServer.SignatureSpec sig) {
    SignatureDef.Builder d = SignatureDef.newBuilder().setMethodName(sig.methodName());
    sig.inputs().forEach((k, t) -> d.putInputs(k, tensorInfo(t)));
    sig.outputs().forEach((k, t) -> d.putOutputs(k, tensorInfo(t)));
    return d.build();
  }

  private static TensorInfo tensorInfo(ModelServer.TensorSpec t) {
    TensorShapeProto.Builder shape = TensorShapeProto.newBuilder();
    if (t.shape() == null) {
      shape.setUnknownRank(true);
    } else {
      for (long d : t.shape()) {
        shape.addDimBuilder().setSize(d);
      }
    }
    return TensorInfo.newBuilder().setName(t.tensorName()).setDtype(t.dtype())
        .setTensorShape(shape).build();
  }
}
