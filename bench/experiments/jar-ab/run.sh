#!/usr/bin/env bash
# bench/experiments/jar-ab/run.sh infer|train|bert|bert-parts|bert-forward OLD_TREE [ROUNDS]: another commit's jar (OLD_TREE, a worktree built with
# ./mvnw package -DskipTests -Ppeers) against this tree's.
#   infer: bench infer's four ViT variants at batch 1, both jars in one process (InferAB, 20 rounds by default), once
#          with the old one made first and once the new one;
#   train: the ViT's CPU training step (TrainStep), LoRA and full, 1 and 2 threads, separate processes alternated
#          (2 rounds by default);
#   bert:  MiniLM's training step on one tape (BertStepMaker), LoRA and full, 1 and 2 threads, both jars
#          in one process (InferAB), blocks of 3 steps (10 rounds by default; VARIANTS="lora:2 full:2" picks);
#   bert-parts: MiniLM's training step as bench bert runs it, the batch as micro-batches (BertPartsStepMaker),
#          METHOD:THREADS:PARTS, both jars in one process (10 rounds by default; VARIANTS="lora:2:2 full:2:2");
#   bert-forward: MiniLM's packed no-grad forward (BertForwardMaker), batch 1 and 32 on one thread, both jars in one
#          process, blocks of 30 and 2 forwards (12 rounds by default; VARIANTS="1:2 32:2" picks).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
. "$root/.mvn/jdk25.sh"
mode="$1" old_jar="$2/bench/target/tune4j-all.jar" new_jar="$root/bench/target/tune4j-all.jar"
java=("$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED)
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
case "$mode" in
  infer)
    rounds="${3:-20}"
    "$JAVA_HOME/bin/javac" -cp "$old_jar" -d "$out/old" "$here/InferMaker.java"
    "$JAVA_HOME/bin/javac" -cp "$new_jar" -d "$out/new" "$here/InferMaker.java"
    "$JAVA_HOME/bin/javac" -d "$out" "$here/InferAB.java"
    for first in old new-first; do
      for variant in f32 int8 2:4+lora 2:4+lora+int8; do
        "${java[@]}" -cp "$out" InferAB "$variant" "$rounds" "$old_jar" "$out/old" "$new_jar" "$out/new" "$first"
      done
    done ;;
  train)
    rounds="${3:-2}"
    "$JAVA_HOME/bin/javac" -cp "$old_jar" -d "$out/old" "$here/TrainStep.java"
    "$JAVA_HOME/bin/javac" -cp "$new_jar" -d "$out/new" "$here/TrainStep.java"
    for method in lora full; do
      for threads in 1 2; do
        for _ in $(seq "$rounds"); do
          echo "old $("${java[@]}" -cp "$out/old:$old_jar" TrainStep "$method" "$threads" 30 | tail -1)"
          echo "new $("${java[@]}" -cp "$out/new:$new_jar" TrainStep "$method" "$threads" 30 | tail -1)"
        done
      done
    done ;;
  bert)
    rounds="${3:-10}"
    "$JAVA_HOME/bin/javac" -cp "$old_jar" -d "$out/old" "$here/BertStepMaker.java" "$here/MiniLmStep.java"
    "$JAVA_HOME/bin/javac" -cp "$new_jar" -d "$out/new" "$here/BertStepMaker.java" "$here/MiniLmStep.java"
    "$JAVA_HOME/bin/javac" -d "$out" "$here/InferAB.java"
    for variant in ${VARIANTS:-lora:1 lora:2 full:1 full:2}; do
      "${java[@]}" -Dmaker=BertStepMaker -Dper=3 -cp "$out" InferAB "$variant" "$rounds" "$old_jar" "$out/old" "$new_jar" "$out/new"
    done ;;
  bert-parts)
    rounds="${3:-10}"
    "$JAVA_HOME/bin/javac" -cp "$old_jar" -d "$out/old" "$here/BertPartsStepMaker.java" "$here/MiniLmStep.java"
    "$JAVA_HOME/bin/javac" -cp "$new_jar" -d "$out/new" "$here/BertPartsStepMaker.java" "$here/MiniLmStep.java"
    "$JAVA_HOME/bin/javac" -d "$out" "$here/InferAB.java"
    for variant in ${VARIANTS:-lora:2:2 full:2:2}; do
      "${java[@]}" -Dmaker=BertPartsStepMaker -Dper=3 -cp "$out" InferAB "$variant" "$rounds" "$old_jar" "$out/old" "$new_jar" "$out/new"
    done ;;
  bert-forward)
    rounds="${3:-12}"
    "$JAVA_HOME/bin/javac" -cp "$old_jar" -d "$out/old" "$here/BertForwardMaker.java" "$here/MiniLmStep.java"
    "$JAVA_HOME/bin/javac" -cp "$new_jar" -d "$out/new" "$here/BertForwardMaker.java" "$here/MiniLmStep.java"
    "$JAVA_HOME/bin/javac" -d "$out" "$here/InferAB.java"
    for variant in ${VARIANTS:-1:1 32:1}; do
      per=$([ "${variant%%:*}" = 1 ] && echo 30 || echo 2)
      "${java[@]}" -Dmaker=BertForwardMaker -Dper="$per" -cp "$out" InferAB "$variant" "$rounds" "$old_jar" "$out/old" "$new_jar" "$out/new"
    done ;;
  *) echo "usage: run.sh infer|train|bert|bert-parts|bert-forward OLD_TREE [ROUNDS]" >&2; exit 2 ;;
esac
