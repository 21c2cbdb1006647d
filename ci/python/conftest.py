"""Shared fixtures: where the Java side wrote the SavedModels and their expected outputs."""
import os
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]


def pytest_addoption(parser):
    parser.addoption(
        "--interop-dir",
        default=os.environ.get("SELFIE_INTEROP_DIR", str(REPO / "target" / "interop")),
        help="directory holding <case>/expected.json + <case>/saved_model written by the Java "
        "interop tests (default: target/interop at the repository root, or $SELFIE_INTEROP_DIR)",
    )


def interop_cases(config):
    root = pathlib.Path(config.getoption("--interop-dir"))
    return sorted(p.parent for p in root.glob("*/expected.json"))


def pytest_generate_tests(metafunc):
    if "case_dir" in metafunc.fixturenames:
        cases = interop_cases(metafunc.config)
        if not cases:
            root = metafunc.config.getoption("--interop-dir")
            raise pytest.UsageError(
                f"no <case>/expected.json under {root}: run the Java export first "
                "(ci/python/run_interop.sh does)"
            )
        metafunc.parametrize("case_dir", cases, ids=[c.name for c in cases])
