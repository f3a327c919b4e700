#!/usr/bin/env bash
# Checks that the portable C path builds for aarch64 and exports every function of tune4j.h.
# Needs Debian's cross compiler: apt-get install -y gcc-aarch64-linux-gnu
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
for f in dispatch threads memory gemm gemm_portable gemm_packed lora lora_mixed quant sparse sparse_portable ops ops_portable; do
  aarch64-linux-gnu-gcc -std=c11 -O3 -Wall -Wextra -Wno-unused-parameter -Werror -fPIC -fvisibility=hidden \
    -I"$here/include" -c "$here/src/$f.c" -o "$out/$f.o"
done
aarch64-linux-gnu-gcc -shared -o "$out/libtune4j.so" "$out"/*.o -lpthread -lm
missing=0
for fn in $(grep -oE 't4j_[a-z0-9_]+\(' "$here/include/tune4j.h" | tr -d '(' | sort -u); do
  aarch64-linux-gnu-nm -D --defined-only "$out/libtune4j.so" | grep -qw "$fn" || { echo "missing: $fn"; missing=1; }
done
[ "$missing" = 0 ] && echo "aarch64: portable build exports every tune4j.h function"
exit "$missing"
