#!/usr/bin/env bash
# Exactly one TensorFlow native jar (tensorflow-core-native:<classifier>) on every module's
# classpath, the one the profile selects, for full builds and module-only builds
# (`mvn -pl training` without -am, which reads the other modules from the local repository),
# with and without -Pgpu; and the same for a Java user's project built from README.md's "Java API"
# dependencies (see the end). Reads resolved dependency trees only: the 526 MB GPU jar is not
# needed.
#
# The module-only builds resolve selfie-* from a private local repository (target/m2-check) that
# this script installs into, so that builds of other checkouts sharing ~/.m2 cannot change the
# answer; everything else in it is a symlink into ~/.m2/repository.
set -euo pipefail
cd "$(dirname "$0")/.."
m2="${MAVEN_LOCAL_REPO:-$HOME/.m2/repository}"
repo="$PWD/target/m2-check"
rm -rf "$repo"
mkdir -p "$repo/dev"
for d in "$m2"/*; do
  [ "$(basename "$d")" = dev ] || ln -s "$d" "$repo/"
done
for d in "$m2"/dev/*; do
  [ -e "$d" ] && [ "$(basename "$d")" != selfie ] && ln -s "$d" "$repo/dev/"
done
mvnr() { mvn -B -Dstyle.color=never -Dmaven.repo.local="$repo" "$@"; }

mvnr -q -DskipTests install >/dev/null

fail=0
# check LABEL EXPECTED_CLASSIFIER MVN_ARGS...: every module of the build has exactly one
# classified tensorflow-core-native, EXPECTED_CLASSIFIER.
check() {
  local label=$1 expected=$2
  shift 2
  local out
  out=$(mvnr "$@" dependency:tree -Dincludes=org.tensorflow:tensorflow-core-native 2>&1) || {
    echo "$out" | tail -20 >&2
    echo "native jars: $label: mvn dependency:tree FAILED" >&2
    fail=1
    return
  }
  local report
  report=$(echo "$out" | sed 's/\x1b\[[0-9;]*m//g' | awk -v want="$expected" '
    /maven-dependency-plugin:[^ ]*:tree .* @ / { mod = $NF == "---" ? $(NF-1) : $NF; mods[mod] = 1; next }
    /tensorflow-core-native:jar:[^:]+:[0-9]/ {
      split($0, a, "tensorflow-core-native:jar:"); split(a[2], b, ":")
      if (b[2] ~ /^[0-9]/) { n[mod]++; got[mod] = got[mod] " " b[1] }
    }
    END {
      if (length(mods) == 0) { print "FAIL no module trees found"; exit }
      for (m in mods) {
        if (n[m] != 1 || got[m] != " " want) print "FAIL " m ":" (got[m] == "" ? " none" : got[m])
        else print "ok " m
      }
    }')
  if echo "$report" | grep -q '^FAIL'; then
    echo "native jars: $label: expected exactly one, $expected:" >&2
    echo "$report" | grep '^FAIL' >&2
    fail=1
  else
    echo "native jars: $label: $(echo "$report" | wc -l) modules, each exactly $expected" >&2
  fi
}

check "full build" linux-x86_64 -P '!gpu'
check "full build -Pgpu" linux-x86_64-gpu -Pgpu
for m in savedmodels training experiments cli ci; do
  check "-pl $m" linux-x86_64 -P '!gpu' -pl "$m"
  check "-pl $m -Pgpu" linux-x86_64-gpu -Pgpu -pl "$m"
done
# A Java user's project: the dependencies README.md's "Java API" section tells them to add (the
# library + the native build they choose) give exactly that native jar and none of the
# application's libraries (CLI, terminal bars, charts, logging backend).
consumer="$PWD/target/consumer"
rm -rf "$consumer"
mkdir -p "$consumer"
deps=$(awk '/^## Java API/ { api = 1 } api && /^```xml/ { inxml = 1; next } inxml && /^```/ { exit } inxml' README.md)
if [ -z "$deps" ]; then
  echo "java api: no \`\`\`xml block in README.md's Java API section" >&2
  fail=1
else
  cat > "$consumer/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>example</groupId>
  <artifactId>selfie-user</artifactId>
  <version>1</version>
  <dependencies>
$deps
  </dependencies>
</project>
POM
  if ! mvnr -q -f "$consumer/pom.xml" \
      org.apache.maven.plugins:maven-dependency-plugin:3.8.1:build-classpath \
      -Dmdep.outputFile="$consumer/classpath.txt" >"$consumer/mvn.log" 2>&1; then
    tail -20 "$consumer/mvn.log" >&2
    echo "java api: README.md's dependencies do not resolve" >&2
    fail=1
  else
    jars=$(tr ':' '\n' < "$consumer/classpath.txt")
    natives=$(echo "$jars" | grep -c 'tensorflow-core-native-[^/]*-linux' || true)
    app=$(echo "$jars" | grep -E '/(picocli|progressbar|jline|xchart|logback-classic)-' || true)
    if [ "$natives" != 1 ] || [ -n "$app" ] || ! echo "$jars" | grep -q '/selfie-training-'; then
      echo "java api: README.md's dependencies give $natives native jar(s) (expected 1)," \
        "selfie-training: $(echo "$jars" | grep -c '/selfie-training-'), application jars: [$app]" >&2
      fail=1
    else
      echo "java api: README.md's dependencies resolve: $(echo "$jars" | wc -l) jars, one native," \
        "no CLI, terminal, chart or logging-backend library" >&2
    fi
  fi
fi
exit $fail
