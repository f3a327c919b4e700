#!/usr/bin/env python3
"""The peers on the same card as tune4j's GPU check (bench/gpu/check.sh): PyTorch and PEFT on the shapes of
`tune4j bench gpu` and of the issue's figures. Writes one JSON object per measurement to argv[1]."""
import json
import sys
import time

import torch


def cuda_ms(fn, reps=20, warmup=3):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(reps):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / reps


class Block(torch.nn.Module):
    """tune4j's pre-norm ViT block (nn/Block.java): x + proj(attention(qkv(ln1(x)))), then + fc2(GELU_tanh(fc1(ln2(x))))."""

    def __init__(self, d, heads, hidden):
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = torch.nn.LayerNorm(d), torch.nn.LayerNorm(d)
        self.qkv, self.proj = torch.nn.Linear(d, 3 * d), torch.nn.Linear(d, d)
        self.fc1, self.fc2 = torch.nn.Linear(d, hidden), torch.nn.Linear(hidden, d)

    def forward(self, x):
        b, s, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, s, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        a = torch.nn.functional.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, s, d)
        x = x + self.proj(a)
        return x + self.fc2(torch.nn.functional.gelu(self.fc1(self.norm2(x)), approximate="tanh"))


class Vit(torch.nn.Module):
    """The main job's ViT (Pretraining.VIT): 28x28 images, patches of 7, width 128, 4 blocks of 4 heads, MLP 256, 10 classes."""

    def __init__(self, image=28, patch=7, d=128, depth=4, heads=4, hidden=256, classes=10):
        super().__init__()
        self.patch, self.n = patch, (image // patch) ** 2
        self.patch_embed = torch.nn.Linear(patch * patch, d)
        self.cls_token = torch.nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embed = torch.nn.Parameter(torch.zeros(1, self.n + 1, d))
        self.blocks = torch.nn.ModuleList(Block(d, heads, hidden) for _ in range(depth))
        self.norm, self.head = torch.nn.LayerNorm(d), torch.nn.Linear(d, classes)

    def forward(self, images):
        b, p = images.shape[0], self.patch
        x = images.view(b, 28 // p, p, 28 // p, p).permute(0, 1, 3, 2, 4).reshape(b, self.n, p * p)
        x = torch.cat([self.cls_token.expand(b, -1, -1), self.patch_embed(x)], dim=1) + self.pos_embed
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.norm(x)[:, 0])


def vit_lora_steps(dev, add, rows):
    """The main job's LoRA step in PyTorch + PEFT (r 4, alpha 8, qkv/proj/fc1/fc2, AdamW, clipping at 1), f32 and TF32."""
    import peft
    for batch in (64, 512):
        for tf32 in (False, True):
            torch.backends.cuda.matmul.allow_tf32 = tf32
            model = peft.get_peft_model(Vit().to(dev), peft.LoraConfig(r=4, lora_alpha=8, target_modules=["qkv", "proj", "fc1", "fc2"], lora_dropout=0.0))
            opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3, weight_decay=0.0)
            x, y = torch.rand(batch, 784, device=dev), torch.randint(0, 10, (batch,), device=dev)

            def step():
                opt.zero_grad(set_to_none=True)
                torch.nn.functional.cross_entropy(model(x), y).backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()

            ms = cuda_ms(step)
            add("peft_vit_lora_step", f"main-job ViT b{batch} r4 {'tf32' if tf32 else 'f32'} ({batch / (ms / 1e3):.0f} img/s)", ms, 3 * 18.6e6 * batch, "GFLOP/s")  # 18.6 MFLOP the forward (InferSuite.vitFlops), the step about 3x
            rows[-1]["precision"] = "tf32" if tf32 else "f32"
            rows[-1]["batch"] = batch
    torch.backends.cuda.matmul.allow_tf32 = False


def bert_lora_steps(dev, add, rows):
    """Issue 18's GPU figure: MiniLM's LoRA step in PyTorch + PEFT (r 8, alpha 16 on query and value, the head trained,
    batch 16 of 128 tokens, AdamW), as tune4j's GpuBertStep runs it: random weights in MiniLM's shapes, f32 and bf16
    autocast."""
    import peft
    import transformers
    config = transformers.BertConfig(vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536,
                                     hidden_act="gelu", layer_norm_eps=1e-12, num_labels=2)
    tokens = 16 * 128
    flops = 2 * 6 * (2 * tokens * (4 * 384 * 384 + 2 * 384 * 1536) + 4 * 16 * 128 * 128 * 384)  # the forward and the input gradients (BertSuite.forwardFlops)
    for precision in ("f32", "bf16"):
        torch.manual_seed(1)
        model = transformers.BertForSequenceClassification(config).to(dev)
        model = peft.get_peft_model(model, peft.LoraConfig(r=8, lora_alpha=16, target_modules=["query", "value"], lora_dropout=0.0, modules_to_save=["classifier"]))
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
        ids, labels = torch.randint(2000, 22000, (16, 128), device=dev), torch.randint(0, 2, (16,), device=dev)

        def step():
            opt.zero_grad(set_to_none=True)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=precision == "bf16"):
                loss = model(input_ids=ids, labels=labels).loss
            loss.backward()
            opt.step()

        ms = cuda_ms(step)
        add("peft_bert_lora_step_" + precision, f"MiniLM-L6 b16 seq 128 r8 q,v {precision} ({16 / (ms / 1e3):.0f} seq/s)", ms, flops, "GFLOP/s")
        rows[-1]["peft"], rows[-1]["transformers"] = peft.__version__, transformers.__version__


def peft_mixed_adapters(dev, add, rows):
    """Issue 20's GPU figure beside tune4j's GpuAdapterBatch: a batch of 32 sequences of 128 tokens over 32 rank-16
    adapters (query and value) on a BERT in MiniLM's shapes with random weights, f32, no gradients: PEFT's mixed batch
    (adapter_names, one name a sequence), the same batch on one adapter, and the per-adapter loop (each sequence alone
    with its adapter set)."""
    import peft
    import transformers
    config = transformers.BertConfig(vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536,
                                     hidden_act="gelu", layer_norm_eps=1e-12)
    torch.manual_seed(1)
    lora = peft.LoraConfig(r=16, lora_alpha=32, target_modules=["query", "value"], lora_dropout=0.0, init_lora_weights=False)
    names = [f"a{i}" for i in range(32)]
    model = peft.get_peft_model(transformers.BertModel(config), lora, adapter_name=names[0])
    for name in names[1:]:
        model.add_adapter(name, lora)
    model = model.to(dev).eval()
    seq = torch.tensor([101] + [2000 + (i * 37) % 20000 for i in range(1, 127)] + [102], device=dev)  # BertSuite.sequenceIds(128)
    ids = seq.repeat(32, 1)
    order = [names[i] for i in torch.randperm(32, generator=torch.Generator().manual_seed(1)).tolist()]
    tokens = 32 * 128
    flops = 2 * 6 * (tokens * (4 * 384 * 384 + 2 * 384 * 1536) + 2 * 32 * 128 * 128 * 384) + 6 * 2 * 2 * 16 * (384 + 384) * tokens

    def mixed():
        model(input_ids=ids, adapter_names=order).last_hidden_state.mean(dim=1)

    def one():
        model.set_adapter(names[0])
        model(input_ids=ids).last_hidden_state.mean(dim=1)

    def loop():
        for b, name in enumerate(order):
            model.set_adapter(name)
            model(input_ids=ids[b:b + 1]).last_hidden_state.mean(dim=1)

    with torch.no_grad():
        for kernel, fn in (("peft_adapters_mixed", mixed), ("peft_adapters_one", one), ("peft_adapters_loop", loop)):
            ms = cuda_ms(fn, reps=10)
            add(kernel, f"MiniLM-L6 seq 128 batch 32 r16 q,v ({32 / (ms / 1e3):.0f} seq/s)", ms, flops, "GFLOP/s")
            rows[-1]["peft"] = peft.__version__


def main(out_path):
    dev = torch.device("cuda")
    rows = []

    def add(kernel, shape, ms, work, unit):
        rows.append({"peer": "pytorch " + torch.__version__, "kernel": kernel, "shape": shape, "median_ms": ms,
                     "rate": work / (ms * 1e6), "unit": unit, "device": torch.cuda.get_device_name(0)})
        print(f"{kernel:24s} {shape:28s} {ms:9.4f} ms {work / (ms * 1e6):10.1f} {unit}", flush=True)

    # the ops of `tune4j bench gpu`, same shapes
    a, b = torch.randn(4096, 1024, device=dev), torch.randn(4096, 1024, device=dev)
    add("add", "4096x1024", cuda_ms(lambda: torch.add(a, b)), 3 * a.numel() * 4, "GB/s")
    add("gelu_forward", "4096x1024", cuda_ms(lambda: torch.nn.functional.gelu(a, approximate="tanh")), 2 * a.numel() * 4, "GB/s")
    add("softmax_forward", "4096x1024", cuda_ms(lambda: torch.softmax(a, dim=1)), 2 * a.numel() * 4, "GB/s")
    ln = torch.nn.LayerNorm(1024, device=dev)
    add("layernorm_forward", "4096x1024", cuda_ms(lambda: ln(a)), 2 * a.numel() * 4, "GB/s")
    for size in (1 << 16, 1 << 24):
        p = torch.nn.Parameter(torch.randn(size, device=dev))
        p.grad = torch.randn(size, device=dev)
        opt = torch.optim.AdamW([p], lr=1e-3, fused=True)
        add("adamw_step", f"{size} params", cuda_ms(opt.step), 28.0 * size, "GB/s")

    # the figures: GEMMs, int8, LoRA step, sparse
    n = 4096
    x16, w16 = torch.randn(n, n, device=dev, dtype=torch.bfloat16), torch.randn(n, n, device=dev, dtype=torch.bfloat16)
    add("gemm_bf16", "4096^3", cuda_ms(lambda: x16 @ w16), 2.0 * n ** 3, "GFLOP/s")
    x32, w32 = x16.float(), w16.float()
    add("gemm_f32", "4096^3", cuda_ms(lambda: x32 @ w32), 2.0 * n ** 3, "GFLOP/s")
    xi, wi = torch.randint(-127, 128, (n, n), device=dev, dtype=torch.int8), torch.randint(-127, 128, (n, n), device=dev, dtype=torch.int8)
    add("int_mm", "4096^3", cuda_ms(lambda: torch._int_mm(xi, wi)), 2.0 * n ** 3, "GOP/s")
    wt = wi.t().contiguous().t()  # the same values, column-major: the "TN" layout cuBLASLt's int8 kernels take
    add("int_mm_wT", "4096^3 column-major weight", cuda_ms(lambda: torch._int_mm(xi, wt)), 2.0 * n ** 3, "GOP/s")

    try:
        import peft
        base = torch.nn.Sequential(torch.nn.Linear(n, n, bias=False)).to(dev, torch.bfloat16)
        model = peft.get_peft_model(base, peft.LoraConfig(r=16, lora_alpha=32, target_modules=["0"], lora_dropout=0.0))
        xt = torch.randn(n, n, device=dev, dtype=torch.bfloat16, requires_grad=True)

        def step():
            y = model(xt)
            y.backward(torch.ones_like(y))

        add("peft_lora_step_bf16", "T4096 d4096 r16 fwd+bwd", cuda_ms(step), 0.0 + 3 * 2.0 * n ** 3, "GFLOP/s")
        rows[-1]["peft"] = peft.__version__
    except Exception as e:  # noqa: BLE001 - the report says what failed
        rows.append({"kernel": "peft_lora_step_bf16", "error": repr(e)})

    try:
        vit_lora_steps(dev, add, rows)
    except Exception as e:  # noqa: BLE001
        rows.append({"kernel": "peft_vit_lora_step", "error": repr(e)})

    try:
        bert_lora_steps(dev, add, rows)
    except Exception as e:  # noqa: BLE001
        rows.append({"kernel": "peft_bert_lora_step", "error": repr(e)})

    try:
        peft_mixed_adapters(dev, add, rows)
    except Exception as e:  # noqa: BLE001
        rows.append({"kernel": "peft_adapters", "error": repr(e)})

    dense = torch.randn(n, n, device=dev)
    dense[dense.abs() < dense.abs().flatten().kthvalue(int(0.9 * dense.numel())).values] = 0
    csr = dense.to_sparse_csr()
    bt = torch.randn(n, n, device=dev)
    add("csr_spmm", "4096x4096 90% x 4096", cuda_ms(lambda: torch.sparse.mm(csr, bt)), 2.0 * csr.values().numel() * n, "GFLOP/s")
    add("dense_f32_same_shape", "4096^3", cuda_ms(lambda: dense @ bt), 2.0 * n ** 3, "GFLOP/s")
    try:
        from torch.sparse import to_sparse_semi_structured
        w = torch.randn(n, n, device=dev, dtype=torch.float16)
        mask = torch.tensor([1, 1, 0, 0], device=dev, dtype=torch.bool).tile(n, n // 4)
        w24 = to_sparse_semi_structured(w * mask)
        xh = torch.randn(n, n, device=dev, dtype=torch.float16)
        add("sparse24_fp16", "4096^3 2:4", cuda_ms(lambda: torch.mm(w24, xh)), 2.0 * n ** 3 / 2, "GFLOP/s")
    except Exception as e:  # noqa: BLE001
        rows.append({"kernel": "sparse24_fp16", "error": repr(e)})

    with open(out_path, "w") as f:
        json.dump({"torch": torch.__version__, "cuda": torch.version.cuda, "when": time.strftime("%Y-%m-%d %H:%M:%S"), "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "torch-peers.json")
