#!/usr/bin/env bash
# kernels/emulator/build.sh OUT_DIR: libtune4j_cuda.so built for the CPU (kernels/src's device, ops, lora, vit,
# quant and seq families, through transform.py and this folder's CUDA runtime; sparse.cu's warp-level kernels
# are stubs that fail), a libcublas.so.13 with the calls Cublas makes, and the CPU library, all in
# OUT_DIR. See run.sh for what runs on them. No GPU, no nvcc: g++ only.
set -euo pipefail
out="${1:?usage: kernels/emulator/build.sh OUT_DIR}"
here="$(cd "$(dirname "$0")" && pwd)"
src="$here/../src"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"
cp "$src/common.cuh" "$tmp/"
for family in device ops lora vit quant seq; do python3 "$here/transform.py" "$src/$family.cu" "$tmp/$family.cpp"; done
# every function of the C ABI that those files do not define: a stub that reports an error
python3 - "$here/../include/tune4j_cuda.h" "$tmp" > "$tmp/stubs.cpp" <<'PY'
import glob, re, sys
header, tmp = sys.argv[1], sys.argv[2]
defined = set()
for f in glob.glob(tmp + "/*.cpp"):
    defined |= set(re.findall(r"\b(t4j_cuda_\w+)\s*\(", open(f).read()))
print('#include "tune4j_cuda.h"\nextern "C" {')
for ret, name, params in re.findall(r"^(int32_t|void)\s+(t4j_cuda_\w+)\(([^;]*?)\);", open(header).read(), re.M | re.S):
    src_defs = [f for f in glob.glob(tmp + "/*.cpp") if re.search(r"\b" + name + r"\s*\([^;]*\)\s*\{", open(f).read())]
    if src_defs:
        continue
    print(f"{ret} {name}({params}) {{ {'return 801;' if ret == 'int32_t' else ''} }} /* not emulated: cudaErrorNotSupported */")
print("}")
PY
flags=(-std=c++17 -O2 -fPIC -shared -DT4J_HOST_EMULATION -Wno-unused-function -I "$here" -I "$here/../include")
# the runtime is a library of its own, which both link against: one set of streams and graphs for the kernels and the GEMMs
g++ "${flags[@]}" -o "$out/libtune4j_emu_runtime.so" "$here/runtime.cpp"
link=(-L "$out" -ltune4j_emu_runtime -Wl,-rpath,'$ORIGIN')
g++ "${flags[@]}" -o "$out/libtune4j_cuda.so" "$tmp"/*.cpp "${link[@]}"
g++ -std=c++17 -O3 -march=native -fPIC -shared -I "$here" -o "$out/libcublas.so.13" "$here/cublas.cpp" "${link[@]}"
cpu_lib="$(ls "$here"/../../bindings/target/classes/META-INF/native/*/libtune4j.so 2>/dev/null | head -n 1)"
[ -n "$cpu_lib" ] || { echo "no libtune4j.so under bindings/target: build the project first (./mvnw -o install -DskipTests)"; exit 1; }
cp "$cpu_lib" "$out/"
echo "built the host emulator's libtune4j_cuda.so and libcublas.so.13 in $out ($(grep -c 'not emulated' "$tmp/stubs.cpp") functions stubbed)"
