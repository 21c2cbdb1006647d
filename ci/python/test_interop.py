"""Python loads the SavedModels that TensorFlow Java exported and reproduces Java's outputs.

For each case directory written by the Java side (savedmodels' InteropExportTest: "tiny", a
hand-made model; training's InteropCasesTest: "selfie-pretrain" and "selfie-finetune", the real
exports of `selfie export`):
  saved_model/    the SavedModel (TF1-style: graph + signature defs + variables, no object graph)
  expected.json   {"atol": ..., "saved_model": "saved_model", "extra_files": [...],
                   "config_contains": {...} (optional: entries assets.extra/config.json must hold),
                   "signatures": {key: {"inputs": {...}, "outputs": {...}}}}
                  with every tensor as {"dtype", "shape", "values" (flat, row-major)}
Everything case-specific (input shape and dtype, signature keys, config entries) comes from
expected.json, so a new case needs no change here.
"""
import json

import numpy as np
import pytest
import tensorflow as tf


def _array(spec):
    return np.asarray(spec["values"], dtype=spec["dtype"]).reshape(spec["shape"])


def _load(case_dir):
    expected = json.loads((case_dir / "expected.json").read_text())
    model = tf.saved_model.load(str(case_dir / expected["saved_model"]))
    return expected, model


def _compare(name, got, want, atol):
    got = np.asarray(got)
    assert got.shape == want.shape, f"{name}: shape {got.shape}, Java {want.shape}"
    if np.issubdtype(want.dtype, np.floating):
        diff = float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64))))
        assert diff <= atol, f"{name}: max abs diff {diff} > {atol}"
    else:
        assert got.dtype == want.dtype, f"{name}: dtype {got.dtype}, Java {want.dtype}"
        np.testing.assert_array_equal(got, want, err_msg=name)


def test_every_signature_matches_java(case_dir):
    expected, model = _load(case_dir)
    atol = expected["atol"]
    assert set(expected["signatures"]) <= set(model.signatures.keys())
    for key, sig in expected["signatures"].items():
        fn = model.signatures[key]
        inputs = {n: tf.constant(_array(s)) for n, s in sig["inputs"].items()}
        outputs = fn(**inputs)
        assert set(outputs.keys()) == set(sig["outputs"].keys()), key
        for name, spec in sig["outputs"].items():
            _compare(f"{key}/{name}", outputs[name].numpy(), _array(spec), atol)


def test_dynamic_batch_and_repeated_calls(case_dir):
    expected, model = _load(case_dir)
    sig = expected["signatures"]["serving_default"]
    fn = model.signatures["serving_default"]
    (in_name, in_spec), = sig["inputs"].items()
    images = _array(in_spec)
    assert len(images) >= 4, "expected.json needs >= 4 images to test batch sizes 1, 3, all"
    want = {n: _array(s) for n, s in sig["outputs"].items()}
    spec = fn.structured_input_signature[1][in_name]
    assert spec.shape.as_list()[0] is None, "the batch dimension must be dynamic"
    assert spec.shape.as_list()[1:] == list(in_spec["shape"][1:]), (
        f"input {in_name}: static shape {spec.shape}, expected [None] + {in_spec['shape'][1:]}")
    assert spec.dtype == tf.as_dtype(in_spec["dtype"])
    for rows in (slice(0, 1), slice(1, 4), slice(0, len(images))):
        for _ in range(2):  # a second call sees the same (restored, not re-initialized) weights
            out = fn(**{in_name: tf.constant(images[rows])})
            for n, w in want.items():
                _compare(f"serving_default/{n}[{rows}]", out[n].numpy(), w[rows], expected["atol"])


def test_wrong_dtype_is_rejected(case_dir):
    expected, model = _load(case_dir)
    fn = model.signatures["serving_default"]
    (in_name, in_spec), = expected["signatures"]["serving_default"]["inputs"].items()
    # One example of the right shape in a dtype the signature does not take.
    wrong = tf.float64 if in_spec["dtype"] == "float32" else tf.float32
    with pytest.raises((TypeError, ValueError, tf.errors.InvalidArgumentError)):
        fn(**{in_name: tf.zeros([1] + list(in_spec["shape"][1:]), wrong)})


def test_extra_files_are_beside_the_model(case_dir):
    expected, _ = _load(case_dir)
    extra = case_dir / expected["saved_model"] / "assets.extra"
    for name in expected["extra_files"]:
        assert (extra / name).is_file(), name
    if "config.json" in expected["extra_files"]:
        config = json.loads((extra / "config.json").read_text())
        assert isinstance(config, dict) and config, "config.json must be a non-empty JSON object"
        for key, value in expected.get("config_contains", {}).items():
            assert config.get(key) == value, f"config.json[{key!r}] = {config.get(key)!r}, expected {value!r}"
    outputs = expected["signatures"]["serving_default"]["outputs"]
    if "class_names.txt" in expected["extra_files"] and "probabilities" in outputs:
        names = [l for l in (extra / "class_names.txt").read_text().splitlines() if l.strip()]
        classes = outputs["probabilities"]["shape"][1]
        assert len(names) == classes, f"class_names.txt has {len(names)} names for {classes} classes"
