#!/usr/bin/env bash
# Python interop check: TensorFlow Java exports SavedModels, then Python's tf.saved_model.load
# runs every signature on the same images and compares with Java's outputs
# (ci/python/test_interop.py, max abs diff <= atol = 1e-4, integer outputs exact).
#
# The Java side writes one case directory each (<dir>/<case>/saved_model + expected.json):
#   tiny             savedmodels' InteropExportTest: a hand-made VarStore model
#   selfie-pretrain  training's InteropCasesTest: `selfie export` of a real pretraining run
#   selfie-finetune  training's InteropCasesTest: `selfie export` of a real finetuning run
# and training's ReferenceForwardExportTest writes <dir>/reference/tiny-pretrain.json (weights,
# inputs and outputs of the tiny pretraining forward pass) for the NumPy reference
# (ci/python/test_reference_forward.py, within 1e-5).
# ci/python/test_grpc_serving.py then starts `./selfie serve` on the selfie-finetune case and
# checks its gRPC API with TF Serving's Python client (tensorflow-serving-api) against its REST
# answers.
# These tests run in `mvn verify`, writing into target/interop at the repository root (the poms
# pass -Dselfie.interop.dir to surefire).
#
#   ci/python/run_interop.sh
# Environment:
#   SELFIE_INTEROP_DIR      where the cases are written/read (default target/interop)
#   SELFIE_INTEROP_REUSE=1  skip the Java export if every required case already exists
#                           (right after `mvn verify`, which runs both Java tests)
#   SELFIE_INTEROP_CASES    the cases that must exist (default "tiny selfie-pretrain selfie-finetune")
#   SELFIE_VENV             the virtual environment the checks run in (default target/venv),
#                           created with `python3 -m venv` on first use; the system Python is
#                           never written to
#   SELFIE_PIP_INSTALL=0    do not pip-install ci/python/requirements.txt into it (otherwise
#                           installed once, and again when the file changes)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
dir="${SELFIE_INTEROP_DIR:-$root/target/interop}"
cases="${SELFIE_INTEROP_CASES:-tiny selfie-pretrain selfie-finetune}"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-1}"

missing_cases() {
  local c out=""
  for c in $cases; do
    [ -f "$dir/$c/expected.json" ] && [ -f "$dir/$c/saved_model/saved_model.pb" ] || out="$out $c"
  done
  [ -f "$dir/reference/tiny-pretrain.json" ] || out="$out reference/tiny-pretrain.json"
  echo "${out# }"
}

# Python: a virtual environment under target/, never the system Python (on Debian 12 its pip is
# refused anyway: PEP 668, externally managed).
venv="${SELFIE_VENV:-$root/target/venv}"
if ! "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
  # Missing, or left without pip by an earlier failure (e.g. no ensurepip): made afresh.
  echo "interop: creating the virtual environment $venv (python3 -m venv)" >&2
  python3 -m venv --clear "$venv" || {
    echo "interop: error: python3 -m venv $venv failed; on Debian/Ubuntu install python3-venv" \
      "(sudo apt-get install python3-venv)" >&2
    exit 1
  }
fi
py="$venv/bin/python"
stamp="$venv/.selfie-requirements.txt"
if [ "${SELFIE_PIP_INSTALL:-1}" = "1" ] && ! cat ci/python/requirements.txt ci/python/requirements-no-deps.txt | cmp -s - "$stamp"; then
  echo "interop: installing ci/python/requirements.txt into $venv (tensorflow-cpu: about 250 MB to download, 1.4 GB on disk, once)" >&2
  "$py" -m pip install -q --disable-pip-version-check -r ci/python/requirements.txt
  # tensorflow-serving-api depends on the full tensorflow package: installed without its deps.
  "$py" -m pip install -q --disable-pip-version-check --no-deps \
    -r ci/python/requirements-no-deps.txt
  cat ci/python/requirements.txt ci/python/requirements-no-deps.txt > "$stamp"
fi

if [ "${SELFIE_INTEROP_REUSE:-0}" = "1" ] && [ -z "$(missing_cases)" ]; then
  echo "interop: reusing the Java exports in $dir ($cases)" >&2
else
  if [ "${SELFIE_INTEROP_REUSE:-0}" = "1" ]; then
    echo "interop: SELFIE_INTEROP_REUSE=1 but $dir lacks: $(missing_cases); exporting again" >&2
  fi
  echo "interop: exporting SavedModels from Java into $dir" >&2
  mvn -B -q -pl savedmodels,training -am test \
    -Dtest='InteropExportTest,InteropCasesTest,ReferenceForwardExportTest' \
    -Dsurefire.failIfNoSpecifiedTests=false \
    -Dselfie.interop.dir="$dir"
fi

left="$(missing_cases)"
if [ -n "$left" ]; then
  echo "interop: error: no case $left in $dir (expected <case>/expected.json and" \
    "<case>/saved_model/saved_model.pb from the Java interop tests)" >&2
  exit 1
fi

"$py" -m pytest -q -p no:cacheprovider ci/python --interop-dir "$dir"
