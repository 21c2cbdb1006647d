"""The benchmark scripts' own logic: the Python peer's explicit-cast bfloat16 step and the
Java/Python ratios bench/compare.py reports (shipped defaults, best vs best)."""
import importlib.util
import math
import pathlib

import pytest

BENCH = pathlib.Path(__file__).resolve().parents[2] / "bench"


def load(name):
    spec = importlib.util.spec_from_file_location(name, BENCH / (name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    return load("selfie_bench")


@pytest.fixture(scope="module")
def compare():
    return load("compare")


def test_bfloat16_casts_step_tracks_float32(bench):
    """The explicit-cast step trains the same model: same initial weights and batch, so its losses
    stay close to float32's (bfloat16 keeps 8 bits of mantissa: 2-3 significant digits), and it
    really computes in bfloat16 (the loss is not bit-identical)."""
    bench.set_precision("float32")
    f32 = bench.step_throughput("tiny", False, 16, 2, 3, "float32")
    bf16 = bench.step_throughput("tiny", False, 16, 2, 3, "bfloat16-casts")
    assert math.isfinite(f32["final_loss"]) and math.isfinite(bf16["final_loss"])
    assert bf16["final_loss"] == pytest.approx(f32["final_loss"], rel=0.05)
    assert bf16["final_loss"] != f32["final_loss"]


def test_casts_model_computes_the_patch_network_in_bfloat16(bench):
    import tensorflow as tf

    model = bench.Model(bench.PRESETS["tiny"], compute_dtype=tf.bfloat16)
    h = model.patch_network(tf.zeros([2, 8, 8, 3]))
    assert h.dtype == tf.bfloat16
    # Variables stay float32 (cast at use), as under Keras' mixed_bfloat16 policy.
    assert all(v.dtype == tf.float32 for _, v, _ in model.trainable)


def row(preset, precision, java, python):
    return dict(preset=preset, xla=False, precision=precision, java_images_per_s=java,
                python_images_per_s=python)


def test_ratios_shipped_defaults_and_best(compare):
    rows = [row("small", "float32", 400.0, 420.0), row("small", "bfloat16", 520.0, 550.0),
            row("small", "bfloat16-casts", None, 560.0)]
    bf16_cpu = dict(cpu_flags="avx2 avx512_bf16 avx512f fma", onednn=True)
    shipped, best = compare.ratios(rows, bf16_cpu)
    assert shipped["comparison"] == "shipped defaults"
    assert (shipped["java_precision"], shipped["python_precision"]) == ("bfloat16", "float32")
    assert shipped["java_over_python"] == pytest.approx(520.0 / 420.0)
    assert (best["java_precision"], best["python_precision"]) == ("bfloat16", "bfloat16-casts")
    assert best["java_over_python"] == pytest.approx(520.0 / 560.0)


@pytest.mark.parametrize("report", [dict(cpu_flags="avx2 fma", onednn=True),
                                    dict(cpu_flags="avx2 avx512_bf16", onednn=False)])
def test_shipped_default_is_float32_without_bfloat16_or_onednn(compare, report):
    assert compare.java_shipped_precision(report) == "float32"
    assert compare.java_shipped_precision(dict(cpu_flags="amx_bf16", onednn=True)) == "bfloat16"
