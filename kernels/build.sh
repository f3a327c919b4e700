#!/usr/bin/env bash
# Builds libtune4j_cuda.so into $2 (the jar's native folder) with CMake in $1, where nvcc is found;
# elsewhere says so in one line and succeeds (the CUDA backend then reports that the library is absent).
set -euo pipefail
build_dir="$1"
out_dir="$2"
here="$(cd "$(dirname "$0")" && pwd)"
nvcc_path="$(command -v nvcc || true)"
[ -n "$nvcc_path" ] || { [ -x /usr/local/cuda/bin/nvcc ] && nvcc_path=/usr/local/cuda/bin/nvcc; } || true
if [ -z "$nvcc_path" ] || [ "${TUNE4J_SKIP_CUDA:-}" = 1 ]; then
  echo "[tune4j] nvcc not found (or TUNE4J_SKIP_CUDA=1): libtune4j_cuda.so is not built; the CPU backend is unaffected"
  exit 0
fi
cmake -S "$here" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_COMPILER="$(readlink -f "$nvcc_path")" >/dev/null
cmake --build "$build_dir" --parallel 2
mkdir -p "$out_dir"
cp "$build_dir/libtune4j_cuda.so" "$out_dir/libtune4j_cuda.so"
echo "[tune4j] built libtune4j_cuda.so with $("$nvcc_path" --version | tail -1)"
