#!/usr/bin/env bash
# bench/gpu/check.sh RESULTS_DIR: the GPU check in one go, on a machine with CUDA 13, PyTorch and PEFT but
# no Java. It brings its own: .device/ holds jre.txz (a Java 25 runtime), tune4j-all.tar.xz (the runnable
# jar's classes, built where nvcc is, so libtune4j_cuda.so is inside), the core's test classes, the JUnit console launcher and
# the kernels/dev variant programs and JCuda (bench/gpu/prepare.sh puts them there). Runs, each under its own time
# limit so that one hang cannot eat the others, the figures' parts first: the CUDA tests (a missing GPU fails them),
# the tokenizer's DJL library on a GPU machine, `tune4j bench gpu`, the PyTorch/PEFT peers, PEFT loading an adapter tune4j wrote (PeftInterop, peft_interop.py), the
# kernel variants' checks and timings, compare.py, then issue 21's CPU column on the host, and last, in what is left of
# 570 seconds (a device command may run 600), the commands with --device cuda (eval beside the CPU's, an epoch of
# pretraining, the demo without compression: the CUDA emulator runs their path in CI).
# Everything is written to a results folder as it is made (machine, dev, torch-peers .json/.txt, peft-interop
# .json/.txt, tests, tokenizer.txt, bench-gpu .json/.txt, cli.txt, demo-cuda-metrics.json, compare.md, the CPU column's files), which
# lands in RESULTS_DIR as results.tgz every 20 seconds and at the end, beside compare.md: a device run brings back 8
# files at most, and what was packed by then survives a run cut short. The whole GPU part took 135 s on an H100 (2026-11-26,
# before the MiniLM rows and the PEFT interop were added); the CPU column (bench/gpu/cpu-matrix.sh: cpu-*.txt / .json, cpu-matrix.txt) runs to
# 480 seconds at most; the demo takes a few minutes (its gates attack on the CPU) and is cut to what is left.
set -uo pipefail
start=$(date +%s)
dest="${1:?usage: bench/gpu/check.sh RESULTS_DIR}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
dev="$root/.device"
tmp="$(mktemp -d)"
out="$tmp/results"
mkdir -p "$dest" "$out"
save() { # the results so far as one archive in RESULTS_DIR, replaced whole
  tar czf "$tmp/results.tgz" -C "$out" . && mv -f "$tmp/results.tgz" "$dest/results.tgz"
  [ -f "$out/compare.md" ] && cp -f "$out/compare.md" "$dest/compare.md"
}
( while sleep 20; do save 2>/dev/null; done ) &
saver=$!
unxz_tar() { # FILE DIR: without an xz binary, Python's lzma
  mkdir -p "$2" && { tar xJf "$1" -C "$2" 2>/dev/null || python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$1" "$2"; }
}
unxz_tar "$dev/jre.txz" "$tmp"
java="$tmp/jre/bin/java"
cp_t4j="$tmp/tune4j" # the runnable jar's classes, unpacked (prepare.sh: they travel as tar.xz)
unxz_tar "$dev/tune4j-all.tar.xz" "$cp_t4j"
cp_t4j="$cp_t4j:$root/java/src/main/resources" # the embedded data and model come with the working tree

# cuBLAS / cuBLASLt are opened by soname: put the toolkit's or PyTorch's copy on the library path
site="$(python3 -c 'import site; print(" ".join(site.getsitepackages()))' 2>/dev/null)"
libdirs="$(find /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib $site -maxdepth 4 -name 'libcublasLt.so.1[23]*' -printf '%h\n' 2>/dev/null | sort -u | tr '\n' ':')"
export LD_LIBRARY_PATH="${libdirs}${LD_LIBRARY_PATH:-}"
{ nvidia-smi; "$java" -version; echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"; nproc; ls /usr/local/cuda/lib64 | grep -E "cublas|cusparse"; timeout 15 find /usr/local /usr/lib $site -maxdepth 5 -name "libcusparseLt*" 2>/dev/null | head -3; pip list 2>/dev/null | grep -i -E "torch|peft|nvidia"; } > "$out/machine.txt" 2>&1

# the most wanted first: what lands in RESULTS_DIR by then survives a run cut short
echo "== CUDA tests (one JVM per group: a crash in one keeps the others' results)"
# BackendOpsTest: the op table on the CUDA backend alone (its CPU levels run in CI)
for group in "cuda.CudaStatusTest cuda.CudaBackendTest" "cuda.CublasLtTest" "cuda.CudaTapeTest cuda.CudaBertTest" "BackendOpsTest" "cuda.JCudaInteropTest"; do
  sel=""; for c in $group; do sel="$sel --select-class org.tune4j.backend.$c"; done
  log="$tmp/tests-${group%% *}.txt"
  TUNE4J_REQUIRE_GPU=1 timeout -k 5 120 "$java" -Dtune4j.ops.targets=cuda -XX:ErrorFile="$out/hs_err_%p.log" --enable-native-access=ALL-UNNAMED -jar "$dev/junit-console.jar" \
    execute --details=verbose --disable-ansi-colors -cp "$cp_t4j:$dev/test-classes:$dev/jcuda-12.6.0.jar:$dev/jcuda-natives-12.6.0-linux-x86_64.jar" $sel > "$log" 2>&1
  rc=$?
  echo "tests [$group] exit $rc" | tee -a "$log"; grep -E "caught:|Caused by|(tests|containers) (successful|failed|skipped)" "$log" | sed "s/\x1b\[[0-9;]*m//g" | head -n 40
  cat "$log" >> "$out/tests.txt"
done

echo "== the tokenizer on a GPU machine (ARCHITECTURE.md, \"The boundary\"): DJL's CPU library, no call home; then with DJL left to choose"
# TokenizerOfflineTest's probe: "ids [1, 0]", "called home at 0", "flavor cpu". With RUST_FLAVOR set empty, DJL picks
# a CUDA build on sm 80-90 and, its jar lacking one, tries to download it: a failure here, which reaches no network
printf '%s' '{"model":{"type":"WordLevel","vocab":{"<unk>":0,"hello":1},"unk_token":"<unk>"},"pre_tokenizer":{"type":"Whitespace"}}' > "$tmp/tokenizer.json"
for flavor in "" "-DRUST_FLAVOR="; do
  timeout -k 5 60 "$java" $flavor -XX:ErrorFile="$out/hs_err_%p.log" --enable-native-access=ALL-UNNAMED -cp "$cp_t4j:$dev/test-classes" \
    'org.tune4j.data.TokenizerOfflineTest$Probe' "$tmp/tokenizer.json" > "$tmp/tokenizer.txt" 2>&1
  echo "tokenizer ${flavor:-(as tune4j sets it)} exit $?" | tee -a "$out/tokenizer.txt"
  grep -v -E "^\s+at " "$tmp/tokenizer.txt" | head -n 8 | tee -a "$out/tokenizer.txt"
done

echo "== tune4j bench gpu"
timeout -k 5 240 "$java" -XX:ErrorFile="$out/hs_err_%p.log" --enable-native-access=ALL-UNNAMED -cp "$cp_t4j" org.tune4j.cli.Main bench gpu \
  --json "$out/bench-gpu.json" > "$out/bench-gpu.txt" 2>&1
echo "bench exit $?" | tee -a "$out/bench-gpu.txt"; tail -n 30 "$out/bench-gpu.txt"

echo "== PyTorch / PEFT on the same card"
timeout -k 5 180 python3 "$root/bench/gpu/torch_peers.py" "$out/torch-peers.json" > "$out/torch-peers.txt" 2>&1
echo "peers exit $?" | tee -a "$out/torch-peers.txt"; tail -n 20 "$out/torch-peers.txt"

echo "== PEFT loads tune4j's adapter (issue 18): a small random BERT and its LoRA written here, read by transformers and PEFT"
timeout -k 5 60 "$java" -XX:ErrorFile="$out/hs_err_%p.log" --enable-native-access=ALL-UNNAMED -cp "$cp_t4j" org.tune4j.bench.PeftInterop "$tmp/peft-interop" > "$out/peft-interop.txt" 2>&1 &&
  timeout -k 5 120 python3 "$root/bench/gpu/peft_interop.py" "$tmp/peft-interop" "$out/peft-interop.json" >> "$out/peft-interop.txt" 2>&1
echo "peft interop exit $?" | tee -a "$out/peft-interop.txt"; tail -n 5 "$out/peft-interop.txt"

echo "== kernels/dev variants"
for prog in "$dev"/kernels-dev/*; do
  name="$(basename "$prog")"
  echo "== $name" >> "$out/dev.txt"
  timeout -k 5 60 "$prog" > "$tmp/dev-$name.txt" 2>&1
  rc=$?
  cat "$tmp/dev-$name.txt" >> "$out/dev.txt"
  echo "$name exit $rc" | tee -a "$out/dev.txt"; tail -n 12 "$tmp/dev-$name.txt"
done

echo "== figures"
python3 "$root/bench/gpu/compare.py" "$out"

echo "== the CPU column (issue 21): the host's CPU benches and PyTorch on the same CPU (90 s kept for the commands after it)"
T4J_JAR="$cp_t4j" bash "$root/bench/gpu/cpu-matrix.sh" "$out" "$java" $(( 480 - ($(date +%s) - start) ))

echo "== the commands with --device cuda, in what is left: eval beside the CPU's, one epoch of pretraining, the demo without compression"
t4j=("$java" -XX:ErrorFile="$out/hs_err_%p.log" --enable-native-access=ALL-UNNAMED -cp "$cp_t4j" org.tune4j.cli.Main)
cli() { # NAME LIMIT ARGS...: tune4j ARGS under LIMIT seconds, or what is left of 570 if less; skipped under 20
  local name=$1 limit=$2; shift 2
  local left=$(( 570 - ($(date +%s) - start) ))
  [ "$left" -lt "$limit" ] && limit=$left
  if [ "$limit" -lt 20 ]; then echo "$name skipped: $left s left" | tee -a "$out/cli.txt"; return; fi
  echo "-- $name" >> "$out/cli.txt"
  timeout -k 5 "$limit" "${t4j[@]}" "$@" >> "$out/cli.txt" 2>&1
  echo "$name exit $?" | tee -a "$out/cli.txt"
}
cli "eval --device cpu" 120 eval --device cpu
cli "eval --device cuda" 120 eval --device cuda
cli "pretrain --device cuda --epochs 1" 150 pretrain --device cuda --epochs 1 --out "$tmp/pretrained.safetensors"
cli "demo --device cuda --no-compression" 300 demo --device cuda --no-compression --out "$tmp/demo"
cp "$tmp/demo/metrics.json" "$out/demo-cuda-metrics.json" 2>/dev/null && python3 "$root/bench/gpu/compare.py" "$out" > /dev/null
grep -E "^(device|method|pretrained|lora|full|head|accuracy|test accuracy)|exit|skipped" "$out/cli.txt" | tail -n 20
kill "$saver" 2>/dev/null; wait "$saver" 2>/dev/null
save
rm -rf "$tmp"
