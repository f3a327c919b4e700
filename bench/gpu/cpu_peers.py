#!/usr/bin/env python3
"""PyTorch on the GPU machine's host CPU, the peer of issue 21's CPU column (bench/gpu/cpu-matrix.sh): the shapes of
`tune4j bench gemm`, `bench lora` (the LoRA layer step written as DjlPytorch writes it) and `bench train` (the main
job's ViT step, full fine-tuning and LoRA), at argv[2] threads (set in the environment before torch loads: a BLAS
with its own pool, as Debian's OpenBLAS build, does not follow torch.set_num_threads alone). Writes one JSON object to
argv[1]. Says which BLAS and which CPU capability PyTorch ran at."""
import json
import os
import statistics
import sys
import time


def median_ms(fn, seconds=0.4, warmup=2, blocks=5):
    """Median over `blocks` blocks of one call's mean time, each block about seconds / blocks long."""
    for _ in range(warmup):
        fn()
    t0 = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t0, 1e-6)
    reps = max(1, int(seconds / blocks / once))
    times = []
    for _ in range(blocks):
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        times.append((time.perf_counter() - t0) / reps * 1e3)
    return statistics.median(times)


def main(out_path, threads):
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    result = {"when": time.strftime("%Y-%m-%d %H:%M:%S"), "threads": threads, "rows": []}
    try:
        import torch
    except Exception as e:  # noqa: BLE001 - the report says what failed
        result["error"] = repr(e)
        json.dump(result, open(out_path, "w"), indent=1)
        print("no torch:", e)
        return
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from torch_peers import Vit  # the main job's ViT, as the GPU peers run it

    config = torch.__config__.show()
    capability = getattr(getattr(torch.backends, "cpu", None), "get_cpu_capability", lambda: "unknown (torch before 2.0)")()
    result.update({"torch": torch.__version__, "cpu_capability": capability,
                   "mkl": torch.backends.mkl.is_available(), "blas": [l.strip() for l in config.splitlines() if "BLAS" in l or "MKL" in l][:4]})
    print(f"torch {torch.__version__}, CPU capability {result['cpu_capability']}, MKL {result['mkl']}", flush=True)
    rows = result["rows"]

    def add(kernel, shape, threads, ms, flops):
        rows.append({"kernel": kernel, "shape": shape, "threads": threads, "median_ms": ms, "gflops": flops / (ms * 1e6)})
        print(f"{kernel:18s} {shape:34s} {threads:3d} threads {ms:10.3f} ms {flops / (ms * 1e6):8.1f} GFLOP/s", flush=True)

    torch.manual_seed(1)
    torch.set_num_threads(threads)
    # bench gemm: C [m, n] = A [m, k] B [k, n], B (NT) or A (TN) stored transposed
    for m, n, k, form in ((1024, 1024, 1024, "nn"), (128, 4096, 4096, "nn"), (512, 1024, 1024, "nt"), (512, 1024, 1024, "nn"), (512, 1024, 1024, "tn")):
        a = torch.randn(k, m).t() if form == "tn" else torch.randn(m, k)
        b = torch.randn(n, k).t() if form == "nt" else torch.randn(k, n)
        add("sgemm_" + form, f"{m}x{n}x{k}", threads, median_ms(lambda: a @ b), 2.0 * m * n * k)
    # bench lora: y = x Wᵀ + s (x Aᵀ) Bᵀ, loss = sum(y * g), backward to x, A, B (W frozen)
    for t, d, r in ((512, 1024, 16), (128, 4096, 16)):
        x = torch.rand(t, d, requires_grad=True)
        w, a, b, g = torch.rand(d, d), torch.rand(r, d, requires_grad=True), torch.rand(d, r, requires_grad=True), torch.rand(t, d)

        def lora_step():
            y = x @ w.t() + 2.0 * ((x @ a.t()) @ b.t())
            (y * g).sum().backward()
            x.grad = a.grad = b.grad = None

        add("lora_step", f"T={t} d_in={d} d_out={d} r={r}", threads, median_ms(lora_step), 2.0 * 2 * t * d * d + 2.0 * t * r * 6 * d)
    # bench train: the main job's ViT, batch 128, AdamW; LoRA r 4 alpha 8 on qkv/proj/fc1/fc2 through PEFT
    for method in ("full", "lora"):
        try:
            model = Vit()
            if method == "lora":
                import peft
                model = peft.get_peft_model(model, peft.LoraConfig(r=4, lora_alpha=8, target_modules=["qkv", "proj", "fc1", "fc2"], lora_dropout=0.0))
            opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3, weight_decay=0.0)
            images, labels = torch.rand(128, 784), torch.randint(0, 10, (128,))

            def step():
                opt.zero_grad(set_to_none=True)
                torch.nn.functional.cross_entropy(model(images), labels).backward()
                opt.step()

            add("step_" + method, "ViT 128x4 batch 128" + (" r=4" if method == "lora" else ""), threads, median_ms(step, seconds=1.0),
                (3 if method == "full" else 2) * 18.6e6 * 128)
        except Exception as e:  # noqa: BLE001
            rows.append({"kernel": "step_" + method, "threads": threads, "error": repr(e)})
            print("step_" + method, "failed:", e, flush=True)
    with open(out_path, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "cpu-peers.json", int(sys.argv[2]) if len(sys.argv) > 2 else 1)
