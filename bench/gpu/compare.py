#!/usr/bin/env python3
"""bench/gpu/compare.py RESULTS_DIR: the issue's GPU figures from one check run, tune4j (bench-gpu.json) against
PyTorch/PEFT (torch-peers.json) on the same card; prints a Markdown table and writes it to RESULTS_DIR/compare.md."""
import json
import os
import sys


def rows(path, key):
    try:
        with open(path) as f:
            table = {}
            for r in json.load(f)["rows"]:
                if key(r):  # the first row of a kernel and dtype is its headline (lora_step bf16: bf16 x and g, as PEFT's)
                    table.setdefault((r.get("kernel"), r.get("dtype", "")), r)
            return table
    except (OSError, ValueError, KeyError) as e:
        print(f"cannot read {path}: {e!r}")
        return {}


def main(out):
    ours = rows(os.path.join(out, "bench-gpu.json"), lambda r: True)
    torch = {k[0]: r for k, r in rows(os.path.join(out, "torch-peers.json"), lambda r: "median_ms" in r).items()}

    def ms(table, *key):
        r = table.get(key if len(key) > 1 else key[0])
        return None if r is None else r["median_ms"]

    lines = ["| figure | tune4j ms | peer | peer ms | ratio | target | met |", "|---|---|---|---|---|---|---|"]

    def figure(name, mine, peer_name, peer, ratio, target, ok):
        fmt = lambda v: "n/a" if v is None else f"{v:.4f}"
        met = "n/a" if ratio is None else ("yes" if ok(ratio) else "no")
        lines.append(f"| {name} | {fmt(mine)} | {peer_name} | {fmt(peer)} | {'n/a' if ratio is None else f'{ratio:.2f}'} | {target} | {met} |")

    def both(a, b):
        return None if a is None or b is None else (a, b)

    lora, peft = ms(ours, "lora_step", "bf16"), ms(torch, "peft_lora_step_bf16")
    p = both(lora, peft)
    figure("LoRA layer step bf16 T4096 d4096 r16", lora, "PEFT", peft, p and p[0] / p[1], "<= 0.5x PEFT's time", lambda r: r <= 0.5)
    graph = ms(ours, "lora_step_graph", "bf16")
    p = both(graph, peft)
    figure("LoRA layer step bf16, replayed as one CUDA graph", graph, "PEFT", peft, p and p[0] / p[1], "<= 0.5x PEFT's time", lambda r: r <= 0.5)
    i8 = ms(ours, "gemm_int8_lt_best", "int8")
    layouts = [v for v in (ms(torch, "int_mm"), ms(torch, "int_mm_wT")) if v is not None]
    intmm = min(layouts) if layouts else None  # the faster of the two weight layouts torch._int_mm was given
    p = both(i8, intmm)
    figure("int8 GEMM 4096^3 (cuBLASLt, searched)", i8, "torch._int_mm (faster layout)", intmm, p and p[1] / p[0], ">= 1.25x", lambda r: r >= 1.25)
    csr = ours.get(("csr_spmm", "f32"))
    csr_ms = None if csr is None else csr["median_ms"]
    dense = None if csr is None else csr["peer_median_ms"]
    p = both(csr_ms, dense)
    figure("CSR 90% 4096x4096 x 4096", csr_ms, "dense cuBLAS f32, same operands", dense, p and p[1] / p[0], ">= 1x", lambda r: r >= 1.0)
    for kernel, dtype, peer in [("gemm_bf16", "bf16", "gemm_bf16"), ("gemm_f32", "f32", "gemm_f32"), ("add", "f32", "add"),
                                ("gelu_forward", "f32", "gelu_forward"), ("softmax_forward", "f32", "softmax_forward"),
                                ("layernorm_forward", "f32", "layernorm_forward")]:
        mine, theirs = ms(ours, kernel, dtype), ms(torch, peer)
        p = both(mine, theirs)
        figure(kernel, mine, "pytorch " + peer, theirs, p and p[1] / p[0], "(speedup, info)", lambda r: True)
    text = "\n".join(lines)
    print(text)
    with open(os.path.join(out, "compare.md"), "w") as f:
        f.write(text + "\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
