"""Bad-request catalogue for `selfie serve`'s gRPC API, with TF Serving's Python client.

    python3 bench/serve_grpc_bad_requests.py HOST:PORT MODEL IMAGE_PNG [MAX_MESSAGE_BYTES]

Sends each malformed call once (bounded: one call per case), prints its status code and
details, and checks after each one that a good Predict still succeeds. The model is a
finetuning export (serving_default takes uint8 [N, 28, 28, 1]; serving_bytes takes image_bytes).
"""
import sys

import grpc
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)


def main():
    target, model, png = sys.argv[1], sys.argv[2], open(sys.argv[3], "rb").read()
    max_bytes = int(sys.argv[4]) if len(sys.argv) > 4 else 64 << 20
    channel = grpc.insecure_channel(target, options=[
        ("grpc.max_send_message_length", 2 * max_bytes + (1 << 20))])
    predict = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    status = model_service_pb2_grpc.ModelServiceStub(channel)
    image = np.zeros((1, 28, 28, 1), np.uint8)

    def req(inputs, name=model, signature="", version=None, filt=()):
        r = predict_pb2.PredictRequest()
        r.model_spec.name = name
        r.model_spec.signature_name = signature
        if version is not None:
            r.model_spec.version.value = version
        for k, v in inputs.items():
            r.inputs[k].CopyFrom(v)
        r.output_filter.extend(filt)
        return r

    good = req({"images": tf.make_tensor_proto(image)})
    t = tf.make_tensor_proto(image)
    few = tf.make_tensor_proto(image)
    few.ClearField("tensor_content")
    few.int_val.extend([1, 2, 3])
    out_of_range = tf.make_tensor_proto(image)
    out_of_range.ClearField("tensor_content")
    out_of_range.int_val.extend([300] + [0] * (28 * 28 - 1))
    short = tf.make_tensor_proto(image)
    short.tensor_content = short.tensor_content[:-1]
    huge_shape = tf.make_tensor_proto(image)
    huge_shape.ClearField("tensor_content")
    huge_shape.tensor_shape.dim[0].size = 1 << 40
    huge_shape.int_val.append(0)
    meta_none = get_model_metadata_pb2.GetModelMetadataRequest()
    meta_none.model_spec.name = model
    meta_bad = get_model_metadata_pb2.GetModelMetadataRequest()
    meta_bad.model_spec.name = model
    meta_bad.metadata_field.append("nope")
    status_nope = get_model_status_pb2.GetModelStatusRequest()
    status_nope.model_spec.name = "nope"
    cases = [
        ("wrong dtype (float32 for uint8)", predict.Predict,
         req({"images": tf.make_tensor_proto(image.astype(np.float32))})),
        ("wrong rank", predict.Predict, req({"images": tf.make_tensor_proto(image[0])})),
        ("wrong shape (32x32x3)", predict.Predict,
         req({"images": tf.make_tensor_proto(np.zeros((1, 32, 32, 3), np.uint8))})),
        ("3 int_val values for 784 elements", predict.Predict, req({"images": few})),
        ("out-of-range pixel (300 in int_val)", predict.Predict, req({"images": out_of_range})),
        ("tensor_content one byte short", predict.Predict, req({"images": short})),
        ("shape of 2^40 images filled from one value", predict.Predict,
         req({"images": huge_shape})),
        ("unsupported dtype (complex64)", predict.Predict,
         req({"images": tf.make_tensor_proto(np.zeros((1, 28, 28, 1), np.complex64))})),
        ("bytes that are no image (serving_bytes)", predict.Predict,
         req({"image_bytes": tf.make_tensor_proto([b"not an image"], dtype=tf.string)},
             signature="serving_bytes")),
        ("unknown input name", predict.Predict, req({"pixels": t})),
        ("missing input (no inputs)", predict.Predict, req({})),
        ("unknown output in output_filter", predict.Predict,
         req({"images": t}, filt=["nope"])),
        ("unknown signature", predict.Predict, req({"images": t}, signature="nope")),
        ("unknown model", predict.Predict, req({"images": t}, name="nope")),
        ("unknown version", predict.Predict, req({"images": t}, version=99)),
        ("no model name", predict.Predict, req({"images": t}, name="")),
        ("metadata without metadata_field", predict.GetModelMetadata, meta_none),
        ("metadata field not supported", predict.GetModelMetadata, meta_bad),
        ("status of an unknown model", status.GetModelStatus, status_nope),
        ("oversized message (2x the limit)", predict.Predict,
         req({"image_bytes": tf.make_tensor_proto([b"x" * (2 * max_bytes)], dtype=tf.string)},
             signature="serving_bytes")),
    ]
    print("| call | status | details | next good Predict |")
    print("| --- | --- | --- | --- |")
    for name, method, message in cases:
        try:
            method(message, timeout=60)
            code, details = "OK", ""
        except grpc.RpcError as e:
            code, details = e.code().name, e.details()
        ok = predict.Predict(good, timeout=60).outputs["classes"].int64_val is not None
        details = details.replace("|", "/").replace("\n", " ")
        if len(details) > 150:
            details = details[:147] + "..."
        print(f"| {name} | {code} | {details} | {'OK' if ok else 'FAILED'} |")
    bytes_ok = predict.Predict(req({"image_bytes": tf.make_tensor_proto([png], dtype=tf.string)},
                                   signature="serving_bytes"), timeout=60)
    print("serving_bytes on the PNG afterwards:", list(bytes_ok.outputs["classes"].int64_val))


if __name__ == "__main__":
    main()
