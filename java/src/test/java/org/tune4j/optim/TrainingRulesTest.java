package org.tune4j.optim;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.tune4j.autograd.Parameter;
import org.tune4j.autograd.Tape;
import org.tune4j.backend.CpuBackend;
import org.tune4j.backend.ReferenceBackend;
import org.tune4j.nn.Linear;
import org.tune4j.nn.LoraLinear;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * The rules the training code applies on every backend, checked against numbers this test works out
 * itself (not by calling the same Java a second time): the LoRA scale with and without rsLoRA, AdamW's
 * decoupled weight decay (matrices only, never the adapters, positions or class token) and LoRA+'s
 * faster rate for lora_B.
 */
class TrainingRulesTest {
    @Test
    void rsLoraScalesByAlphaOverTheRootOfTheRank() {
        try (Arena arena = Arena.ofConfined(); Tape t = new Tape(CpuBackend.get(), false)) {
            SplittableRandom rng = new SplittableRandom(4);
            Linear base = new Linear(arena, 6, 5, true, rng);
            LoraLinear plain = new LoraLinear(arena, new Linear(arena, 6, 5, true, new SplittableRandom(4)), 4, 8f, 0f, false, rng);
            LoraLinear rs = new LoraLinear(arena, base, 4, 8f, 0f, true, rng);
            assertEquals(2f, plain.scale()); // alpha / r = 8 / 4
            assertEquals(4f, rs.scale());    // alpha / sqrt(r) = 8 / 2
            Tensor b = rs.loraB().value();
            for (long i = 0; i < b.numel(); i++) b.setFloat(i, 0.1f * (i % 7) - 0.3f);
            Tensor x = Tensor.zeros(arena, DType.F32, 3, 6);
            for (long i = 0; i < x.numel(); i++) x.setFloat(i, (float) Math.sin(i));
            rs.train(false);
            Tensor y = rs.forward(t, t.input(x, false)).value();
            // y = x Wᵀ + b + 4 · (x Aᵀ) Bᵀ, by the reference's GEMMs
            ReferenceBackend ref = new ReferenceBackend();
            Tensor want = Tensor.zeros(arena, DType.F32, 3, 5), h = Tensor.zeros(arena, DType.F32, 3, 4);
            ref.gemm(false, true, 1f, x, base.weight().value(), 0f, want);
            ref.gemm(false, true, 1f, x, rs.loraA().value(), 0f, h);
            ref.gemm(false, true, 4f, h, b, 1f, want);
            for (long i = 0; i < 3; i++) {
                for (long j = 0; j < 5; j++) {
                    float expected = want.getFloat(i, j) + base.bias().value().getFloat(j);
                    assertEquals(expected, y.getFloat(i, j), 1e-5, "y[" + i + "," + j + "]");
                }
            }
        }
    }

    @Test
    void adamwDecaysMatricesButNotAdaptersPositionsOrNormsAndLoraBLearnsFaster() {
        float lr = 0.01f, wd = 0.1f, ratio = 8f, w0 = 0.5f, g = 0.2f;
        try (Arena arena = Arena.ofConfined()) {
            Map<String, Parameter> params = new LinkedHashMap<>();
            for (String name : new String[] {"blocks.0.attn.qkv.weight", "blocks.0.attn.qkv.lora_A", "blocks.0.attn.qkv.lora_B", "pos_embed",
                "cls_token", "patch_embed.weight", "norm.weight", "head.bias"}) {
                Parameter p = name.endsWith("norm.weight") || name.endsWith("bias") ? new Parameter(arena, 3) : new Parameter(arena, 2, 3);
                for (long i = 0; i < p.numel(); i++) {
                    p.value().setFloat(i, w0);
                    p.grad().setFloat(i, g);
                }
                params.put(name, p);
            }
            AdamW.of(arena, params, wd, ratio).step(CpuBackend.get(), lr);
            // first step: m̂ = g, v̂ = g², so the Adam term is lr·g/(|g| + eps) ≈ lr; decoupled decay takes lr·wd·w first
            double adam = g / (Math.abs(g) + 1e-8);
            Map<String, Double> want = new LinkedHashMap<>();
            want.put("blocks.0.attn.qkv.weight", w0 - lr * wd * w0 - lr * adam);
            want.put("blocks.0.attn.qkv.lora_A", w0 - lr * adam);
            want.put("blocks.0.attn.qkv.lora_B", w0 - ratio * lr * adam);
            want.put("pos_embed", w0 - lr * adam);
            want.put("cls_token", w0 - lr * adam);
            want.put("patch_embed.weight", w0 - lr * wd * w0 - lr * adam);
            want.put("norm.weight", w0 - lr * adam);
            want.put("head.bias", w0 - lr * adam);
            want.forEach((name, v) -> assertEquals(v, params.get(name).value().getFloat(0), 1e-6, name));
        }
    }
}
