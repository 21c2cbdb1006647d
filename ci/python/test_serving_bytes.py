"""The `serving_bytes` signature: encoded image files in, the answer of `selfie predict` out.

training's InteropCasesTest writes, into the finetuning case, PNG files of other sizes and channel
counts than the model's (image_files/) and predict.json: what `selfie predict` (Java: ImageIO
decoding, aspect-keeping resize, centre crop, channel conversion) answers for them. Here Python
TensorFlow feeds the raw file bytes to the exported `serving_bytes` signature, which decodes and
fits them in the graph, and must agree.
"""
import json

import numpy as np
import pytest
import tensorflow as tf

ATOL = 2e-3  # probabilities; pixels may differ by one level on rounding edges



def test_the_finetuning_case_has_image_files(case_dir):
    if case_dir.name == "selfie-finetune":
        assert (case_dir / "predict.json").is_file(), "InteropCasesTest wrote no predict.json"


def test_serving_bytes_agrees_with_selfie_predict(case_dir):
    if not (case_dir / "predict.json").is_file():
        return  # cases without image files (no serving_bytes): nothing to compare
    expected = json.loads((case_dir / "predict.json").read_text())
    model = tf.saved_model.load(str(case_dir / "saved_model"))
    assert "serving_bytes" in model.signatures, list(model.signatures.keys())
    fn = model.signatures["serving_bytes"]
    files = [(case_dir / "image_files" / name).read_bytes() for name in expected["files"]]
    want = np.asarray(expected["probabilities"], dtype=np.float64)
    # All files in one batch, then one at a time (the batch dimension is dynamic).
    out = fn(image_bytes=tf.constant(files))
    got = out["probabilities"].numpy().astype(np.float64)
    assert got.shape == want.shape, (got.shape, want.shape)
    diff = float(np.max(np.abs(got - want)))
    assert diff <= ATOL, f"serving_bytes vs selfie predict: max abs diff {diff} > {ATOL}"
    np.testing.assert_array_equal(out["classes"].numpy(), np.asarray(expected["classes"]))
    for i, data in enumerate(files):
        one = fn(image_bytes=tf.constant([data]))["probabilities"].numpy()[0]
        assert float(np.max(np.abs(one - want[i]))) <= ATOL, expected["files"][i]


def test_serving_bytes_rejects_what_is_not_an_image(case_dir):
    if not (case_dir / "predict.json").is_file():
        return
    fn = tf.saved_model.load(str(case_dir / "saved_model")).signatures["serving_bytes"]
    with pytest.raises(tf.errors.InvalidArgumentError):
        fn(image_bytes=tf.constant([b"not an image"]))
