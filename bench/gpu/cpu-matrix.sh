#!/usr/bin/env bash
# bench/gpu/cpu-matrix.sh RESULTS_DIR JAVA SECONDS: issue 21's CPU column on the GPU machine's host (a 16-core Intel Xeon),
# in what is left of check.sh's one device command. The CPU benches at one thread and all cores (`bench gemm`, `int8`,
# `lora`, `train`; .device's jar has no Java peers, so each row carries its % of the host's measured peak), and PyTorch
# on the same CPU at the same shapes and thread counts (cpu_peers.py: MKL, the capability it runs at named). Each run
# has its own time limit and starts only if the SECONDS budget still holds it, most wanted first; files land in
# RESULTS_DIR as cpu-*.txt / .json, the log in cpu-matrix.txt. T4J_JAR names the jar, or the folder of its classes.
set -uo pipefail
out="${1:?usage: bench/gpu/cpu-matrix.sh RESULTS_DIR JAVA SECONDS}"
java="${2:?java}"
budget="${3:?seconds}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
jar="${T4J_JAR:?T4J_JAR: the runnable jar, or the folder its classes are unpacked in (check.sh sets it)}"
start=$(date +%s)
cores=$(nproc)
mkdir -p "$out"
{ echo "cores $cores"; grep -m1 "model name" /proc/cpuinfo; grep -m1 "^flags" /proc/cpuinfo | tr ' ' '\n' | grep -E "^avx|^amx|vnni" | tr '\n' ' '; echo; } >> "$out/cpu-matrix.txt"

# run NAME LIMIT COMMAND...: COMMAND under LIMIT seconds if the budget still holds LIMIT, its output in cpu-NAME.txt
run() {
  local name=$1 limit=$2; shift 2
  local left=$(( budget - ($(date +%s) - start) ))
  if [ "$left" -lt "$limit" ]; then echo "$name skipped: $left s of the budget left, it may take $limit" | tee -a "$out/cpu-matrix.txt"; return; fi
  timeout -k 5 "$limit" "$@" > "$out/cpu-$name.txt" 2>&1
  echo "$name exit $? at $(( $(date +%s) - start )) s" | tee -a "$out/cpu-matrix.txt"
  grep -E "^(gemm|int8|lora|train) |^peak|^machine|^[a-z_0-9]+ +[0-9]" "$out/cpu-$name.txt" | head -n 40
}

bench=("$java" -XX:ErrorFile="$out/hs_err_%p.log" --enable-native-access=ALL-UNNAMED -cp "$jar" org.tune4j.cli.Main bench)
run gemm 150 "${bench[@]}" gemm --threads "1,$cores" --json "$out/cpu-gemm.json"
run int8 120 "${bench[@]}" int8 --threads "1,$cores" --json "$out/cpu-int8.json"
run peers-1 90 python3 "$root/bench/gpu/cpu_peers.py" "$out/cpu-peers-1.json" 1
run peers-$cores 90 python3 "$root/bench/gpu/cpu_peers.py" "$out/cpu-peers-$cores.json" "$cores"
run lora 120 "${bench[@]}" lora --threads "1,$cores" --json "$out/cpu-lora.json"
run train 180 "${bench[@]}" train --threads "1,$cores" --json "$out/cpu-train.json"
