#!/usr/bin/env bash
# kernels/dev/vit_host_check.sh: builds and runs vit_host_check.cpp, the kernels of kernels/src/vit.cu on
# the CPU against plain loops (no GPU needed; see the .cpp). The kernels are cut out of vit.cu: the lines
# between its include of common.cuh and its extern "C" wrappers (which launch them).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
sed -n '/#include "common.cuh"/,/^extern "C" {/p' "$here/../src/vit.cu" | sed '1d;$d' > "$tmp/vit_kernels.inc"
g++ -O1 -std=c++17 -Wall -Wno-unused-function -I "$tmp" -o "$tmp/vit_host_check" "$here/vit_host_check.cpp"
"$tmp/vit_host_check"
