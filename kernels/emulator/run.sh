#!/usr/bin/env bash
# kernels/emulator/run.sh [OUT_DIR]: the GPU path of the Java code run on the CPU, before a GPU is at hand.
# Builds the emulator (build.sh) into OUT_DIR (default: a temporary folder), then runs, with it in place of
# libtune4j_cuda.so and libcublas.so.13 (-Dtune4j.native.path, LD_LIBRARY_PATH): the CUDA tests that the
# emulator can serve (TUNE4J_REQUIRE_GPU=1, so none skips), and eval, one epoch of pretraining, a small demo
# a small robust run (and one on 2 micro-batches), a small BERT fine-tuning (MiniLM; and full fine-tuning on 2 micro-batches), embed and classify with --device cuda beside --device cpu on slices of Debian's Fashion-MNIST
# (small_data.py), whose numbers must agree (about 6 minutes on 2 cores); between them the boundary fuzzer (200,000 random calls,
# the CUDA backend beside the reference and the CPU's levels), then `bench gpu --quick` (its ViT, MiniLM and adapter rows
# present, no op on the CPU: about 6 minutes); exits 1 when a test fails, the fuzzer finds a defect, a pair differs or a row is missing. Not emulated (their tests are left out):
# cuBLASLt, the CSR kernels, JCuda. Needs the project built with its test classes (./mvnw verify, or
# install -DskipTests and -pl java test-compile); fetches the JUnit console launcher through Maven.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${1:-$(mktemp -d)}"
JAVA_HOME="${JAVA_HOME:-}"
[ -x "$JAVA_HOME/bin/java" ] && "$JAVA_HOME/bin/java" -version 2>&1 | grep -q 'version "25' || export JAVA_HOME="$(ls -d /usr/lib/jvm/*25* | head -n 1)"
java="$JAVA_HOME/bin/java"
"$here/build.sh" "$out" || exit 1
export LD_LIBRARY_PATH="$out${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
jar="$root/bench/target/tune4j-all.jar"
(cd "$root" && ./mvnw -q -B dependency:copy -Dartifact=org.junit.platform:junit-platform-console-standalone:1.14.1 -DoutputDirectory="$out") || exit 1
console="$out/junit-platform-console-standalone-1.14.1.jar"

echo "== CUDA tests on the emulator"
TUNE4J_REQUIRE_GPU=1 "$java" -Dtune4j.native.path="$out" -Dtune4j.ops.targets=cuda --enable-native-access=ALL-UNNAMED -jar "$console" execute --disable-ansi-colors \
  --details=tree -cp "$jar:$root/java/target/test-classes" --select-class org.tune4j.backend.cuda.CudaStatusTest \
  --select-class org.tune4j.backend.cuda.CudaTapeTest --select-class org.tune4j.backend.cuda.CudaBertTest --select-class org.tune4j.backend.BackendOpsTest \
  --select-method 'org.tune4j.backend.cuda.CudaBackendTest#quantizationAndBf16MatchTheReference' \
  --select-method 'org.tune4j.backend.cuda.CudaBackendTest#cublasGemmsMatchTheReference' --select-method 'org.tune4j.backend.cuda.CudaBackendTest#graphsReplayTheRecordedWorkOnNewInputs' \
  --select-method 'org.tune4j.backend.cuda.CudaBackendTest#badArgumentsAreRefusedByName' \
  --select-method 'org.tune4j.backend.cuda.CudaBackendTest#geluErfSlopeIsRelativelyExactInTheTail' > "$out/tests.txt" 2>&1
tests=$?
grep -E "✘|tests (successful|failed)" "$out/tests.txt"

echo "== the boundary fuzzer with the CUDA backend beside the CPU's (random calls of every op, tensors in device memory)"
LD_LIBRARY_PATH="$LD_LIBRARY_PATH" "$java" -Dtune4j.native.path="$out" -Dtune4j.fuzz.cuda=true -XX:ErrorFile="$out/hs_err_%p.log" --enable-native-access=ALL-UNNAMED \
  -cp "$jar:$root/java/target/test-classes" org.tune4j.fuzz.BoundaryFuzz 1 200000 > "$out/fuzz.txt" 2>&1
fuzzed=$?
grep "^defect" "$out/fuzz.txt" | head -n 20
tail -n 1 "$out/fuzz.txt"
tail -n 1 "$out/fuzz.txt" | grep -q "defects 0$" && [ "$fuzzed" = 0 ] || { echo "the fuzzer found defects or crashed (its last case: $(grep '^case' "$out/fuzz.txt" | tail -n 1))"; fuzzed=1; }

echo "== the commands, --device cpu then cuda: each pair must print the same numbers"
data="$(mktemp -d)"
python3 "$here/small_data.py" /usr/share/datasets/fashion-mnist "$data" 6000 300
t4j=("$java" -Dtune4j.native.path="$out" --enable-native-access=ALL-UNNAMED -jar "$jar")
differ=0
same() { # $1 what; $2, $3 the cpu and cuda lines
  printf '%s\n  cpu:  %s\n  cuda: %s\n' "$1" "$2" "$3"
  [ -n "$2" ] && [ "$2" = "$3" ] || { echo "  DIFFERENT"; differ=1; }
}
same "eval" "$("${t4j[@]}" eval --device cpu --data "$data" 2>&1 | tail -n 1)" "$("${t4j[@]}" eval --device cuda --data "$data" 2>&1 | tail -n 1)"
pretrain() {
  "${t4j[@]}" pretrain --device "$1" --epochs 1 --data "$data" --out "$data/pretrained.safetensors" 2>&1 | tr '\r' '\n' \
    | grep -E "^(pretrain epoch [0-9]+:|test accuracy)" | sed -E "s/, [0-9.]+ s$//; s/, [0-9]+ images\/s.*//" | tr '\n' ' '
}
same "pretrain, one epoch" "$(pretrain cpu)" "$(pretrain cuda)"
python3 "$here/small_data.py" /usr/share/datasets/fashion-mnist "$data/mini" 1000 50
demo() { # the table's accuracy, flip, PGD, corruption columns (not ECE: a float sum printed to 3 digits; not the timings)
  "${t4j[@]}" demo --device "$1" --data "$data/mini" --target-images 100 --epochs 1 --no-compression --out "$data/demo-$1" 2>&1 | tr '\r' '\n' \
    | grep -E "^(pretrained|lora|full|head|lora-adv) +[0-9]" | awk '{print $1, $2, $3, $4, $5, $6, $8, $9}' | tr '\n' ' '
}
same "demo, one epoch of every method on 100 target images, measured on 50" "$(demo cpu)" "$(demo cuda)"
robust() {
  "${t4j[@]}" robust --device "$1" --data "$data/mini" --train-images 600 --epochs 1 --eval-images 20 2>&1 | tr '\r' '\n' \
    | grep -E "^(before|after|robust-lora epoch [0-9]+:)" | sed -E "s/, [0-9.]+ s$//" | tr '\n' ' '
}
same "robust (LoRA and the head, FGSM examples), one epoch" "$(robust cpu)" "$(robust cuda)"
robust_parts() { # full fine-tuning, each batch as 2 micro-batches: at once on the CPU's two threads, in turn on the device
  "${t4j[@]}" robust --device "$1" --method full --micro-batches 2 --data "$data/mini" --train-images 600 --epochs 1 --eval-images 20 2>&1 | tr '\r' '\n' \
    | grep -E "^(before|after|robust-full epoch [0-9]+:)" | sed -E "s/, [0-9.]+ s$//" | tr '\n' ' '
}
same "robust, full fine-tuning on 2 micro-batches, one epoch" "$(robust_parts cpu)" "$(robust_parts cuda)"
finetune() { # MiniLM from its Maven jar (imported on first use), LoRA with dropout and the head: the BERT path (masked attention, embeddings)
  "${t4j[@]}" finetune --device "$1" --methods lora,head --seeds 1 --train 24 --test 16 --epochs 1 --max-length 32 --no-int8 --out "$data/ft-$1" 2>&1 | tr '\r' '\n' \
    | grep -E "^  (epoch [0-9]+/[0-9]+:|test accuracy)" | sed -E "s/ \([0-9.]+ s\)$//" | tr '\n' ' '
}
same "finetune MiniLM (LoRA and the head, one epoch on 24 messages)" "$(finetune cpu)" "$(finetune cuda)"
finetune_parts() { # full fine-tuning on 2 micro-batches: the later part's gradients apart, its embedding rows added in its turn
  "${t4j[@]}" finetune --device "$1" --methods full --micro-batches 2 --seeds 1 --train 24 --test 16 --epochs 1 --max-length 32 --no-int8 2>&1 | tr '\r' '\n' \
    | grep -E "^  (epoch [0-9]+/[0-9]+:|test accuracy)" | sed -E "s/ \([0-9.]+ s\)$//" | tr '\n' ' '
}
same "finetune MiniLM (full fine-tuning on 2 micro-batches, one epoch on 24 messages)" "$(finetune_parts cpu)" "$(finetune_parts cuda)"
# embed: MiniLM's sentence vectors on two texts of different lengths (a padded batch), cpu against cuda within 1e-5
"${t4j[@]}" import --model minilm --out "$data/minilm" > /dev/null 2>&1
for device in cpu cuda; do
  "${t4j[@]}" embed --device "$device" --model "$data/minilm" "a first text to embed" "and a second, longer one, so that the first is padded" > "$data/embed-$device.txt" 2>&1
done
embedded="$(python3 - "$data/embed-cpu.txt" "$data/embed-cuda.txt" <<'PY'
import sys
def numbers(f):
    try:
        return [float(x) for x in open(f).read().split()]
    except ValueError:
        return []
a, b = numbers(sys.argv[1]), numbers(sys.argv[2])
ok = len(a) == 768 and len(a) == len(b)
worst = max(abs(x - y) for x, y in zip(a, b)) if ok else float("nan")
print(("same" if ok and worst <= 1e-5 else "DIFFERENT") + f": {len(a)} and {len(b)} numbers, max |diff| {worst:.2g}")
PY
)"
printf 'embed MiniLM (two texts, 384 numbers each)\n  %s\n' "$embedded"
case "$embedded" in same*) ;; *) head -c 300 "$data/embed-cuda.txt"; differ=1 ;; esac
# classify: the adapter the cpu fine-tuning saved, folded into MiniLM, on three texts: the same labels, probabilities within 1e-4
for device in cpu cuda; do
  "${t4j[@]}" classify --device "$device" --model "$data/minilm" --adapter "$data/ft-cpu/adapter-lora" "win a free prize now, click here" \
    "the meeting moved to three; the notes are attached" "ok" > "$data/classify-$device.txt" 2>&1
done
classified="$(python3 - "$data/classify-cpu.txt" "$data/classify-cuda.txt" <<'PY'
import sys
def rows(f):
    try:
        return [(l.split("\t")[0], float(l.split("\t")[1])) for l in open(f).read().splitlines()]
    except (ValueError, IndexError):
        return []
a, b = rows(sys.argv[1]), rows(sys.argv[2])
ok = len(a) == 3 and len(b) == 3 and [x[0] for x in a] == [y[0] for y in b]
worst = max(abs(x[1] - y[1]) for x, y in zip(a, b)) if ok else float("nan")
print(("same" if ok and worst <= 1e-4 else "DIFFERENT") + f": labels {[x[0] for x in a]} and {[y[0] for y in b]}, max |diff| of the probabilities {worst:.2g}")
PY
)"
printf 'classify with the fine-tuned adapter (three texts)\n  %s\n' "$classified"
case "$classified" in same*) ;; *) head -c 300 "$data/classify-cuda.txt"; differ=1 ;; esac
rm -rf "$data"
# bench gpu, as the GPU check runs it (quick): the emulator serves every part but CSR and cuBLASLt, and those parts must
# give their rows with no op on the CPU, since a lent GPU gives the check one try
"${t4j[@]}" bench gpu --quick --json "$out/bench-gpu.json" > "$out/bench-gpu.txt" 2>&1
benched="$(python3 - "$out/bench-gpu.json" <<'PY'
import json, sys
try:
    rows = json.load(open(sys.argv[1]))["rows"]
except (OSError, ValueError, KeyError) as e:
    print(f"MISSING: no rows ({e!r})")
    sys.exit()
want = {"add", "adamw_step", "vit_lora_step", "vit_full_step", "bert_lora_step", "adapters_mixed", "adapters_mixed_vs_loop", "batch over 8 adapters"}
missing = sorted(want - {r["kernel"] for r in rows})
fell = sorted({r["kernel"] for r in rows if "ops on the CPU" in r.get("shape", "")})
print(("complete" if not missing and not fell else "MISSING") + f": {len(rows)} rows, missing {missing}, with ops on the CPU {fell}")
PY
)"
printf 'bench gpu --quick (its ViT, MiniLM, adapter and resident-sweep rows)\n  %s\n' "$benched"
case "$benched" in complete*) benchgpu=0 ;; *) tail -n 20 "$out/bench-gpu.txt"; benchgpu=1 ;; esac
[ "$tests" = 0 ] || { echo "CUDA tests failed on the emulator: $out/tests.txt"; exit 1; }
[ "$fuzzed" = 0 ] || { echo "the boundary fuzzer found defects with the CUDA backend: $out/fuzz.txt"; exit 1; }
[ "$differ" = 0 ] || { echo "--device cuda printed other numbers than --device cpu on the emulator"; exit 1; }
[ "$benchgpu" = 0 ] || { echo "bench gpu lacks rows on the emulator: $out/bench-gpu.txt"; exit 1; }
echo "the emulator agrees: CUDA tests pass, the fuzzer finds no defect, --device cuda prints --device cpu's numbers, bench gpu gives its rows"
