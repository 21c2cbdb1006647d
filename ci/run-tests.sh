#!/usr/bin/env bash
# The project's test command (README.md, .ci/run):
#   1. mvn -B verify: unit tests of every module, the training tests, the ci regression run,
#      and the Java side of the Python interop check (writes target/interop);
#   2. the gpu profile resolves to TensorFlow's GPU native library (checked on the effective
#      POM: no GPU and no 526 MB download needed), and every module's classpath holds exactly
#      one native jar, in full and module-only builds, with and without -Pgpu, and a Java
#      user's project with the dependencies README.md's "Java API" names gets one native jar and
#      none of the application's libraries (ci/check-native-jars.sh);
#   3. Python TensorFlow loads the Java-exported SavedModels and reproduces Java's outputs, in a
#      virtual environment under target/ (target/venv, `python3 -m venv`; tensorflow-cpu is
#      installed there once): nothing is written into the system Python.
set -euo pipefail
cd "$(dirname "$0")/.."
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-1}"

mvn -B verify

echo "gpu profile: checking the native classifier it selects" >&2
mkdir -p target
help=org.apache.maven.plugins:maven-help-plugin:3.5.1
classifier() {  # the native classifier a profile selection gives (colour codes stripped)
  mvn -B -q -N -Dstyle.color=never "$@" "$help:evaluate" \
    -Dexpression=tensorflow.native.classifier -DforceStdout | sed 's/\x1b\[[0-9;]*m//g'
}
gpu=$(classifier -Pgpu)
cpu=$(classifier -P '!gpu')
mvn -B -q -Pgpu -pl training "$help:effective-pom" -Doutput="$PWD/target/effective-pom-gpu.xml" >/dev/null
if [ "$gpu" != "linux-x86_64-gpu" ] || [ "$cpu" != "linux-x86_64" ] \
    || ! grep -q '<classifier>linux-x86_64-gpu</classifier>' target/effective-pom-gpu.xml; then
  echo "gpu profile: FAILED (gpu=$gpu, cpu=$cpu)" >&2
  exit 1
fi
echo "gpu profile: ok (-Pgpu -> $gpu, default -> $cpu)" >&2
bash ci/check-native-jars.sh

SELFIE_VENV="$PWD/target/venv" SELFIE_INTEROP_REUSE=1 bash ci/python/run_interop.sh
