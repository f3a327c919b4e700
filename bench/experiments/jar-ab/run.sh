#!/usr/bin/env bash
# bench/experiments/jar-ab/run.sh OLD_TREE [ROUNDS]: bench infer's four ViT variants at batch 1, the jar of OLD_TREE (a
# worktree of another commit, built with ./mvnw package -DskipTests -Ppeers) against this tree's, in one process each
# (InferAB). Prints one line per variant and order (old loaded first, then new first).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
. "$root/.mvn/jdk25.sh"
old_jar="$1/bench/target/tune4j-all.jar" new_jar="$root/bench/target/tune4j-all.jar" rounds="${2:-20}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
"$JAVA_HOME/bin/javac" -cp "$old_jar" -d "$out/old" "$here/InferMaker.java"
"$JAVA_HOME/bin/javac" -cp "$new_jar" -d "$out/new" "$here/InferMaker.java"
"$JAVA_HOME/bin/javac" -d "$out" "$here/InferAB.java"
for variant in f32 int8 2:4+lora 2:4+lora+int8; do
  "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED -cp "$out" InferAB "$variant" "$rounds" "$old_jar" "$out/old" "$new_jar" "$out/new"
done
for variant in f32 int8 2:4+lora 2:4+lora+int8; do
  "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED -cp "$out" InferAB "$variant" "$rounds" "$old_jar" "$out/old" "$new_jar" "$out/new" new-first
done
