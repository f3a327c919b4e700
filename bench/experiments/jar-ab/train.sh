#!/usr/bin/env bash
# bench/experiments/jar-ab/train.sh OLD_TREE [ROUNDS]: the ViT's CPU training step (TrainStep), LoRA and full, 1 and 2
# threads, the jar of OLD_TREE (another commit, built with ./mvnw package -DskipTests -Ppeers) and this tree's in
# separate processes, alternated ROUNDS times (default 2).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
. "$root/.mvn/jdk25.sh"
old_jar="$1/bench/target/tune4j-all.jar" new_jar="$root/bench/target/tune4j-all.jar" rounds="${2:-2}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
"$JAVA_HOME/bin/javac" -cp "$old_jar" -d "$out/old" "$here/TrainStep.java"
"$JAVA_HOME/bin/javac" -cp "$new_jar" -d "$out/new" "$here/TrainStep.java"
for method in lora full; do
  for threads in 1 2; do
    for _ in $(seq "$rounds"); do
      echo "old $("$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED -cp "$out/old:$old_jar" TrainStep "$method" "$threads" 30 | tail -1)"
      echo "new $("$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED -cp "$out/new:$new_jar" TrainStep "$method" "$threads" 30 | tail -1)"
    done
  done
done
