package org.tune4j.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.tune4j.autograd.Tape;
import org.tune4j.autograd.Var;
import org.tune4j.backend.CpuBackend;
import org.tune4j.nn.Lora;
import org.tune4j.nn.LoraLinear;
import org.tune4j.nn.VisionTransformer;
import org.tune4j.optim.AdamW;
import org.tune4j.optim.GradClip;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;
import org.tune4j.train.CudaVitLoraTrainer;

/**
 * The GPU LoRA step against the tape on the CPU: the same loss and adapter gradients for one batch, and
 * the same adapters after a few clipped AdamW steps with LoRA+. A small ViT with odd sizes (5 tokens,
 * heads of 8, batch 3) and nonzero lora_B, so that every gradient is nonzero.
 */
class CudaVitLoraTrainerTest extends GpuTest {
    private static final VisionTransformer.Config SMALL = new VisionTransformer.Config(8, 4, 16, 2, 2, 24, 3);
    private static final int BATCH = 3;

    private static VisionTransformer model(Arena arena) {
        VisionTransformer vit = new VisionTransformer(arena, SMALL, new SplittableRandom(11));
        Map<String, LoraLinear> adapters = Lora.inject(vit, arena, new Lora.Config(2, 4f, 0f, false, List.of("qkv", "proj", "fc1", "fc2"), List.of()),
                new SplittableRandom(12));
        SplittableRandom rng = new SplittableRandom(13);
        adapters.values().forEach(l -> {
            Tensor b = l.loraB().value();
            for (long i = 0; i < b.numel(); i++) b.setFloat(i, (float) (rng.nextDouble() - 0.5) * 0.4f);
        });
        return vit;
    }

    private static Tensor images(Arena arena, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        Tensor x = Tensor.zeros(arena, DType.F32, BATCH, 64);
        for (long i = 0; i < x.numel(); i++) x.setFloat(i, (float) rng.nextDouble());
        return x;
    }

    private static Tensor labels(Arena arena) {
        Tensor y = Tensor.zeros(arena, DType.I32, BATCH);
        for (int i = 0; i < BATCH; i++) y.setInt(i, (i * 2 + 1) % 3);
        return y;
    }

    /** The CPU's loss for the batch, with the adapters' gradients left in the parameters. */
    private static float cpuLossAndGradients(VisionTransformer vit, Tensor x, Tensor y) {
        vit.namedParameters().values().forEach(p -> { if (p.trainable()) p.zeroGrad(); });
        try (Tape t = new Tape(CpuBackend.get(), true)) {
            Var loss = t.crossEntropy(vit.logits(t, x, false), y, 0f);
            t.backward(loss);
            return loss.value().getFloat(0);
        }
    }

    private static void assertClose(float[] expected, float[] actual, double tol, String what) {
        assertEquals(expected.length, actual.length, what);
        double scale = 0;
        for (float e : expected) scale = Math.max(scale, Math.abs(e));
        assertTrue(scale > 0, what + " is all zero: the test would prove nothing");
        for (int i = 0; i < expected.length; i++) assertEquals(expected[i], actual[i], tol * scale, what + " [" + i + "]");
    }

    @Test
    void oneBatchGivesTheTapesLossAndGradients() {
        try (Arena arena = Arena.ofConfined()) {
            VisionTransformer vit = model(arena);
            Tensor x = images(arena, 21), y = labels(arena);
            float cpuLoss = cpuLossAndGradients(vit, x, y);
            try (CudaVitLoraTrainer gpuStep = new CudaVitLoraTrainer(gpu, vit, BATCH, 8f, 1f, Cublas.Precision.F32)) {
                gpuStep.computeGradients(x, y);
                assertEquals(cpuLoss, gpuStep.loss(), 1e-5 * Math.max(1, Math.abs(cpuLoss)), "loss");
                Map<String, float[]> grads = gpuStep.gradients();
                assertEquals(2 * 4 * SMALL.depth(), grads.size());
                grads.forEach((name, g) -> assertClose(vit.namedParameters().get(name).grad().toFloatArray(), g, 1e-4, name + " gradient"));
            }
        }
    }

    @Test
    void stepsMatchClippedAdamWWithLoraPlus() {
        try (Arena arena = Arena.ofConfined()) {
            VisionTransformer cpuVit = model(arena), gpuVit = model(arena);
            Tensor y = labels(arena);
            AdamW opt = AdamW.of(arena, cpuVit.namedParameters(), 0.01f, 8f);
            float[] lrs = {1e-2f, 5e-3f, 2e-3f};
            try (CudaVitLoraTrainer gpuStep = new CudaVitLoraTrainer(gpu, gpuVit, BATCH, 8f, 0.5f, Cublas.Precision.F32)) {
                for (int s = 0; s < lrs.length; s++) {
                    Tensor x = images(arena, 30 + s);
                    cpuLossAndGradients(cpuVit, x, y);
                    GradClip.clipGlobalNorm(CpuBackend.get(), opt.parameters().values(), 0.5);
                    opt.step(CpuBackend.get(), lrs[s]);
                    gpuStep.step(x, y, lrs[s]);
                }
                gpuStep.copyAdaptersBack();
            }
            opt.parameters().forEach((name, p) -> assertClose(p.value().toFloatArray(), gpuVit.namedParameters().get(name).value().toFloatArray(), 1e-4,
                    name + " after 3 steps"));
        }
    }
}
