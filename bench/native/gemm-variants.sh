#!/bin/bash
# Builds libtune4j.so variants for bench/native/gemm-ab: gemm-variants.sh OUT_DIR NAME "DEFINES" [NAME "DEFINES" ...]
# e.g. gemm-variants.sh /tmp/v t6x64 "-DT4J_AVX512_MR=6 -DT4J_AVX512_NV=4" t12x32 ""
# writes OUT_DIR/NAME.so for each, and OUT_DIR/gemm-ab, ops-ab (the ViT step's row ops and attention),
# bert-gemms-ab (MiniLM batch 1's GEMMs, weights from memory), bert-forward-ab (its whole forward, the ops between included), int8-ab (the int8 linear layer, batch 1 and 128)
# int8-24-ab (the 2:4 int8 layer beside the dense one), int8-batch-ab (MiniLM's FFN in int8 at batch 1 and 32), lora-ab (the LoRA layer step beside its frozen base), lora-bits-ab (two builds' LoRA outputs, bit for bit), gemm-bits-ab (two builds' GEMMs, bit for bit), lora-mixed-ab (a mixed-adapter batch's parts beside the fused layer) tile-ceiling (the AVX-512 register tiles alone, in L1, against the FMA loop) linear-amx-ab (the packed f32 linear on AMX tiles against the FMA kernels, and both against double) gemm-amx-ab (t4j_gemm on AMX tiles packed at the call against the FMA kernels, MiniLM's full fine-tuning products, and both against double) int8-avx2-ceiling (the exact AVX2 int8 tile alone, in L1, beside the form without its sign step, against the int8 loop) and fma-steady (the library's FMA loop over time).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$1; shift
mkdir -p "$out"
gcc -O2 -Wall -o "$out/gemm-ab" "$root/bench/native/gemm-ab.c" -ldl
gcc -O2 -Wall -o "$out/ops-ab" "$root/bench/native/ops-ab.c" -ldl
gcc -O2 -Wall -o "$out/bert-gemms-ab" "$root/bench/native/bert-gemms-ab.c" -ldl
gcc -O2 -Wall -o "$out/int8-ab" "$root/bench/native/int8-ab.c" -ldl
gcc -O2 -Wall -o "$out/int8-24-ab" "$root/bench/native/int8-24-ab.c" -ldl
gcc -O2 -Wall -o "$out/lora-ab" "$root/bench/native/lora-ab.c" -ldl
gcc -O2 -Wall -o "$out/lora-bits-ab" "$root/bench/native/lora-bits-ab.c" -ldl
gcc -O2 -Wall -o "$out/gemm-bits-ab" "$root/bench/native/gemm-bits-ab.c" -ldl
gcc -O2 -Wall -o "$out/lora-mixed-ab" "$root/bench/native/lora-mixed-ab.c" -ldl
gcc -O2 -Wall -o "$out/int8-batch-ab" "$root/bench/native/int8-batch-ab.c" -ldl
gcc -O2 -Wall -o "$out/gemm-openblas-ab" "$root/bench/native/gemm-openblas-ab.c" -ldl
gcc -O2 -Wall -o "$out/bert-forward-ab" "$root/bench/native/bert-forward-ab.c" -ldl
gcc -O2 -Wall -o "$out/tile-ceiling" "$root/bench/native/tile-ceiling.c" -ldl
gcc -O2 -Wall -o "$out/linear-amx-ab" "$root/bench/native/linear-amx-ab.c" -ldl -lm
gcc -O2 -Wall -o "$out/gemm-amx-ab" "$root/bench/native/gemm-amx-ab.c" -ldl -lm
gcc -O2 -Wall -o "$out/int8-avx2-ceiling" "$root/bench/native/int8-avx2-ceiling.c" -ldl
gcc -O2 -Wall -o "$out/fma-steady" "$root/bench/native/fma-steady.c" -ldl
while [ $# -ge 2 ]; do
    name=$1 defines=$2; shift 2
    cmake -S "$root/native" -B "$out/build-$name" -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS="$defines" > /dev/null
    make -s --no-print-directory -C "$out/build-$name" tune4j
    cp "$out/build-$name/libtune4j.so" "$out/$name.so"
done
