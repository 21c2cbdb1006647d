#!/usr/bin/env bash
# Python interop check: TensorFlow Java exports SavedModels (savedmodels' InteropExportTest
# writes <dir>/<case>/saved_model + expected.json), then Python's tf.saved_model.load runs every
# signature on the same images and compares with Java's outputs (ci/python/test_interop.py).
#
#   ci/python/run_interop.sh
# Environment:
#   SELFIE_INTEROP_DIR    where the cases are written/read (default savedmodels/target/interop)
#   SELFIE_INTEROP_REUSE=1  skip the Java export if <dir>/*/expected.json already exist
#                           (e.g. right after `mvn verify`, which runs InteropExportTest)
#   SELFIE_PIP_INSTALL=0  do not pip-install ci/python/requirements.txt
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
dir="${SELFIE_INTEROP_DIR:-$root/savedmodels/target/interop}"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-1}"

if [ "${SELFIE_PIP_INSTALL:-1}" = "1" ]; then
  python3 -m pip install -q --disable-pip-version-check -r ci/python/requirements.txt
fi

if [ "${SELFIE_INTEROP_REUSE:-0}" = "1" ] && compgen -G "$dir/*/expected.json" > /dev/null; then
  echo "interop: reusing the Java export in $dir" >&2
else
  echo "interop: exporting SavedModels from Java into $dir" >&2
  mvn -B -q -pl savedmodels -am test \
    -Dtest=InteropExportTest -Dsurefire.failIfNoSpecifiedTests=false \
    -Dselfie.interop.dir="$dir"
fi

python3 -m pytest -q -p no:cacheprovider ci/python --interop-dir "$dir"
