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
#   SELFIE_PIP_INSTALL=0    do not pip-install ci/python/requirements.txt
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

if [ "${SELFIE_PIP_INSTALL:-1}" = "1" ]; then
  python3 -m pip install -q --disable-pip-version-check -r ci/python/requirements.txt
  python3 -m pip install -q --disable-pip-version-check --no-deps \
    -r ci/python/requirements-no-deps.txt
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

python3 -m pytest -q -p no:cacheprovider ci/python --interop-dir "$dir"
