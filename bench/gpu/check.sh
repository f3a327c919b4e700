#!/usr/bin/env bash
# bench/gpu/check.sh RESULTS_DIR: the GPU check in one go, on a machine with CUDA 13, PyTorch and PEFT but
# no Java. It brings its own: .device/ holds jre.tgz (../shared/device/make-jre.sh), tune4j-all.jar (built
# where nvcc is, so libtune4j_cuda.so is inside), the core's test classes and the JUnit console launcher
# (bench/gpu/prepare.sh puts them there). Runs the CUDA tests (a missing GPU fails them), `tune4j bench
# gpu`, and the PyTorch/PEFT peers on the same card; everything lands in RESULTS_DIR. About 5 minutes.
set -uo pipefail
out="${1:?usage: bench/gpu/check.sh RESULTS_DIR}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
dev="$root/.device"
mkdir -p "$out"
tmp="$(mktemp -d)"
tar xzf "$dev/jre.tgz" -C "$tmp"
java="$(ls -d "$tmp"/*/bin/java | head -n 1)"
{ nvidia-smi; "$java" -version; } > "$out/machine.txt" 2>&1

echo "== CUDA tests"
TUNE4J_REQUIRE_GPU=1 timeout 240 "$java" --enable-native-access=ALL-UNNAMED -jar "$dev/junit-console.jar" execute \
  -cp "$dev/tune4j-all.jar:$dev/test-classes" --select-package org.tune4j.backend.cuda \
  --reports-dir "$out/junit" > "$out/tests.txt" 2>&1
echo "tests exit $?" | tee -a "$out/tests.txt"; tail -n 15 "$out/tests.txt"

echo "== tune4j bench gpu"
timeout 240 "$java" --enable-native-access=ALL-UNNAMED -cp "$dev/tune4j-all.jar" org.tune4j.cli.Main bench gpu \
  --json "$out/bench-gpu.json" > "$out/bench-gpu.txt" 2>&1
echo "bench exit $?" | tee -a "$out/bench-gpu.txt"; tail -n 20 "$out/bench-gpu.txt"

echo "== PyTorch / PEFT on the same card"
timeout 240 python3 "$root/bench/gpu/torch_peers.py" "$out/torch-peers.json" > "$out/torch-peers.txt" 2>&1
echo "peers exit $?" | tee -a "$out/torch-peers.txt"; tail -n 20 "$out/torch-peers.txt"
rm -rf "$tmp"
