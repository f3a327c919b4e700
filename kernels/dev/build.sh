#!/usr/bin/env bash
# kernels/dev/build.sh OUT_DIR: builds each variant program of kernels/dev/ (sm_80 and sm_90, CUDA runtime
# static) into OUT_DIR. bench/gpu/prepare.sh calls it; bench/gpu/check.sh runs what it built.
set -euo pipefail
out="${1:?usage: kernels/dev/build.sh OUT_DIR}"
here="$(cd "$(dirname "$0")" && pwd)"
nvcc="$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)"
mkdir -p "$out"
for src in "$here"/*.cu; do
  name="$(basename "$src" .cu)"
  "$nvcc" -O3 -std=c++17 -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 -I "$here/../include" -o "$out/$name" "$src"
done
