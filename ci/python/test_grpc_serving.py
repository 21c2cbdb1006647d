"""`selfie serve` answers TF Serving's official Python gRPC client like TF Serving would.

One `selfie serve` (REST and gRPC ports) on the finetuning case that training's InteropCasesTest
exported; the client is the `tensorflow-serving-api` package from PyPI (its
PredictionServiceStub and ModelServiceStub, its messages, TensorFlow's make_tensor_proto):
  - Predict on a few images answers what REST answers for them (and what Java computed);
  - Predict on encoded image files (serving_bytes) answers what REST answers for them in b64;
  - GetModelMetadata lists serving_default; GetModelStatus reports AVAILABLE;
  - an unknown model is NOT_FOUND, an unknown signature FAILED_PRECONDITION (as TF Serving), a
    bad input INVALID_ARGUMENT naming it, and serving goes on;
  - the calls are counted in the REST server's Prometheus metrics;
  - SIGTERM stops it with exit status 0.
The server is started through the ./selfie launcher (which builds first if needed).
"""
import base64
import json
import os
import pathlib
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

REPO = pathlib.Path(__file__).resolve().parents[2]
CASE = "selfie-finetune"
NAME = "selfie"
START_TIMEOUT_S = 900  # the launcher may build the project first


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def case(request):
    root = pathlib.Path(request.config.getoption("--interop-dir"))
    case_dir = root / CASE
    if not (case_dir / "expected.json").is_file():
        pytest.fail(f"no {CASE} case in {root}: run the Java export first "
                    "(ci/python/run_interop.sh does)")
    return case_dir


@pytest.fixture(scope="module")
def server(case):
    """(rest base URL, gRPC target); SIGTERM at the end must exit 0."""
    rest_port, grpc_port = _free_port(), _free_port()
    while grpc_port == rest_port:
        grpc_port = _free_port()
    cmd = [str(REPO / "selfie"), "serve", "--model", str(case / "saved_model"),
           "--name", NAME, "--port", str(rest_port), "--grpc-port", str(grpc_port),
           "--max-latency-ms", "0"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env, cwd=REPO)
    seen = []
    ready = threading.Event()

    def read():
        for line in proc.stdout:
            seen.append(line)
            if re.search(r"gRPC on \S+:%d " % grpc_port, line):
                ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.time() + START_TIMEOUT_S
    while not ready.is_set() and proc.poll() is None and time.time() < deadline:
        ready.wait(0.5)
    if not ready.is_set():
        proc.kill()
        pytest.fail("selfie serve did not start its gRPC server:\n" + "".join(seen))
    yield f"http://127.0.0.1:{rest_port}", f"127.0.0.1:{grpc_port}"
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("selfie serve did not exit on SIGTERM:\n" + "".join(seen))
    assert code == 0, f"exit status {code} after SIGTERM:\n" + "".join(seen)


@pytest.fixture(scope="module")
def stubs(server):
    channel = grpc.insecure_channel(server[1])
    yield (prediction_service_pb2_grpc.PredictionServiceStub(channel),
           model_service_pb2_grpc.ModelServiceStub(channel))
    channel.close()


def _rest(base, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    with urllib.request.urlopen(urllib.request.Request(base + path, data=data), timeout=60) as r:
        return json.loads(r.read()) if path.endswith((":predict", "metadata")) else r.read()


def _images(case):
    spec = json.loads((case / "expected.json").read_text())["signatures"]["serving_default"]
    images = spec["inputs"]["images"]
    return spec, np.asarray(images["values"], dtype=np.uint8).reshape(images["shape"])


def _predict(stub, signature, inputs, name=NAME):
    req = predict_pb2.PredictRequest()
    req.model_spec.name = name
    req.model_spec.signature_name = signature
    for key, value in inputs.items():
        req.inputs[key].CopyFrom(value)
    return stub.Predict(req, timeout=60)


def test_predict_equals_rest_and_java(case, server, stubs):
    spec, images = _images(case)
    atol = json.loads((case / "expected.json").read_text())["atol"]
    for batch in (images[:1], images[:4]):
        resp = _predict(stubs[0], "serving_default", {"images": tf.make_tensor_proto(batch)})
        assert resp.model_spec.name == NAME
        assert resp.model_spec.signature_name == "serving_default"
        assert resp.model_spec.version.value == 1
        rest = _rest(server[0], f"/v1/models/{NAME}:predict", {"inputs": batch.tolist()})
        assert set(resp.outputs) == set(rest["outputs"]) == {"logits", "probabilities", "classes"}
        for out, got in resp.outputs.items():
            got = tf.make_ndarray(got)
            want = np.asarray(rest["outputs"][out], dtype=got.dtype)
            assert got.shape == want.shape, out
            np.testing.assert_array_equal(got, want, err_msg=f"gRPC vs REST: {out}")
            java = np.asarray(spec["outputs"][out]["values"]).reshape(
                spec["outputs"][out]["shape"])[: len(batch)]
            np.testing.assert_allclose(got, java, rtol=0, atol=atol, err_msg=f"vs Java: {out}")


def test_serving_bytes_equals_rest_b64(case, server, stubs):
    expected = json.loads((case / "predict.json").read_text())
    files = [(case / "image_files" / f).read_bytes() for f in expected["files"]]
    resp = _predict(stubs[0], "serving_bytes",
                    {"image_bytes": tf.make_tensor_proto(files, dtype=tf.string)})
    rest = _rest(server[0], f"/v1/models/{NAME}:predict", {
        "signature_name": "serving_bytes",
        "instances": [{"b64": base64.b64encode(f).decode()} for f in files]})
    got = tf.make_ndarray(resp.outputs["probabilities"])
    want = np.asarray([p["probabilities"] for p in rest["predictions"]], dtype=np.float32)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(tf.make_ndarray(resp.outputs["classes"]), expected["classes"])


def test_metadata_lists_the_signatures(stubs):
    req = get_model_metadata_pb2.GetModelMetadataRequest()
    req.model_spec.name = NAME
    req.metadata_field.append("signature_def")
    resp = stubs[0].GetModelMetadata(req, timeout=60)
    defs = get_model_metadata_pb2.SignatureDefMap()
    assert resp.metadata["signature_def"].Unpack(defs)
    assert {"serving_default", "serving_bytes", "embedding"} <= set(defs.signature_def)
    images = defs.signature_def["serving_default"].inputs["images"]
    assert images.dtype == tf.uint8.as_datatype_enum
    assert [d.size for d in images.tensor_shape.dim] == [-1, 28, 28, 1]
    assert resp.model_spec.version.value == 1


def test_status_is_available(stubs):
    req = get_model_status_pb2.GetModelStatusRequest()
    req.model_spec.name = NAME
    resp = stubs[1].GetModelStatus(req, timeout=60)
    (v,) = resp.model_version_status
    assert v.version == 1
    assert v.state == get_model_status_pb2.ModelVersionStatus.AVAILABLE
    assert v.status.error_code == 0  # OK


def test_errors_have_tf_serving_status_codes_and_serving_goes_on(case, stubs):
    _, images = _images(case)
    good = {"images": tf.make_tensor_proto(images[:1])}
    with pytest.raises(grpc.RpcError) as e:
        _predict(stubs[0], "serving_default", good, name="nope")
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    req = get_model_status_pb2.GetModelStatusRequest()
    req.model_spec.name = "nope"
    with pytest.raises(grpc.RpcError) as e:
        stubs[1].GetModelStatus(req, timeout=60)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as e:
        _predict(stubs[0], "serving_nope", good)
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION  # as TF Serving
    for bad in (tf.make_tensor_proto(images[:1].astype(np.float32)),   # wrong dtype
                tf.make_tensor_proto(np.zeros((1, 32, 32, 3), np.uint8))):  # wrong shape
        with pytest.raises(grpc.RpcError) as e:
            _predict(stubs[0], "serving_default", {"images": bad})
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "images" in e.value.details(), e.value.details()
    with pytest.raises(grpc.RpcError) as e:
        _predict(stubs[0], "serving_bytes",
                 {"image_bytes": tf.make_tensor_proto([b"not an image"], dtype=tf.string)})
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _predict(stubs[0], "serving_default", good).outputs["classes"].int64_val


def test_grpc_calls_are_counted_in_the_metrics(server, stubs):
    test_status_is_available(stubs)
    text = _rest(server[0], "/monitoring/prometheus/metrics").decode()
    assert re.search(r'selfie_serving_requests_total\{code="OK",kind="grpc_status"\} [1-9]', text), text
    assert 'queue="grpc"' in text, text
