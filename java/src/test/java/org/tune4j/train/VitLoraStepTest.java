package org.tune4j.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.BiFunction;
import org.junit.jupiter.api.Test;
import org.tune4j.autograd.Tape;
import org.tune4j.autograd.Var;
import org.tune4j.backend.CpuBackend;
import org.tune4j.nn.Lora;
import org.tune4j.nn.LoraLinear;
import org.tune4j.nn.VisionTransformer;
import org.tune4j.optim.AdamW;
import org.tune4j.optim.GradClip;
import org.tune4j.optim.LrSchedule;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * The tape-free LoRA step (the code the GPU runs) on host tensors against the tape: the same loss and
 * adapter gradients for one batch, and the same adapters after a few clipped AdamW steps with LoRA+. A
 * small ViT with odd sizes (5 tokens, heads of 8, batch 3) and nonzero lora_B, so every gradient is nonzero.
 * Its fixtures serve the GPU's test too (CudaVitLoraStepTest).
 */
public class VitLoraStepTest {
    public static final VisionTransformer.Config SMALL = new VisionTransformer.Config(8, 4, 16, 2, 2, 24, 3);
    public static final int BATCH = 3;

    public static VisionTransformer model(Arena arena) {
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

    public static Tensor images(Arena arena, long seed) {
        return images(arena, seed, BATCH);
    }

    public static Tensor images(Arena arena, long seed, int n) {
        SplittableRandom rng = new SplittableRandom(seed);
        Tensor x = Tensor.zeros(arena, DType.F32, n, 64);
        for (long i = 0; i < x.numel(); i++) x.setFloat(i, (float) rng.nextDouble());
        return x;
    }

    public static Tensor labels(Arena arena) {
        return labels(arena, BATCH);
    }

    public static Tensor labels(Arena arena, int n) {
        Tensor y = Tensor.zeros(arena, DType.I32, n);
        for (int i = 0; i < n; i++) y.setInt(i, (i * 2 + 1) % 3);
        return y;
    }

    /** The tape's loss for the batch, with the adapters' gradients left in the parameters. */
    public static float tapeLossAndGradients(VisionTransformer vit, Tensor x, Tensor y) {
        vit.namedParameters().values().forEach(p -> {
            if (p.trainable()) p.zeroGrad();
        });
        try (Tape t = new Tape(CpuBackend.get(), true)) {
            Var loss = t.crossEntropy(vit.logits(t, x, false), y, 0f);
            t.backward(loss);
            return loss.value().getFloat(0);
        }
    }

    public static void assertClose(float[] expected, float[] actual, double tol, String what) {
        assertEquals(expected.length, actual.length, what);
        double scale = 0;
        for (float e : expected) scale = Math.max(scale, Math.abs(e));
        assertTrue(scale > 0, what + " is all zero: the comparison would prove nothing");
        for (int i = 0; i < expected.length; i++) assertEquals(expected[i], actual[i], tol * scale, what + " [" + i + "]");
    }

    /** Loss and every adapter gradient of one batch from the step {@code make} builds (batch 3, clipping at 1) against the tape's. */
    public static void checkOneBatch(BiFunction<VisionTransformer, Float, VitLoraStep<?>> make, double tol) {
        try (Arena arena = Arena.ofConfined()) {
            VisionTransformer vit = model(arena);
            Tensor x = images(arena, 21), y = labels(arena);
            float tapeLoss = tapeLossAndGradients(vit, x, y);
            try (VitLoraStep<?> step = make.apply(vit, 1f)) {
                step.computeGradients(x, y);
                assertEquals(tapeLoss, step.loss(), tol * Math.max(1, Math.abs(tapeLoss)), "loss");
                Map<String, float[]> grads = step.gradients();
                assertEquals(2 * 4 * SMALL.depth(), grads.size());
                grads.forEach((name, g) -> assertClose(vit.namedParameters().get(name).grad().toFloatArray(), g, 10 * tol, name + " gradient"));
            }
        }
    }

    /** The adapters after three steps (clipping at 0.5, LoRA+ 8) of the step {@code make} builds against the tape, AdamW and clipping's. */
    public static void checkThreeSteps(BiFunction<VisionTransformer, Float, VitLoraStep<?>> make, double tol) {
        try (Arena arena = Arena.ofConfined()) {
            VisionTransformer tapeVit = model(arena), stepVit = model(arena);
            Tensor y = labels(arena);
            AdamW opt = AdamW.of(arena, tapeVit.namedParameters(), 0.01f, 8f);
            float[] lrs = {1e-2f, 5e-3f, 2e-3f};
            try (VitLoraStep<?> step = make.apply(stepVit, 0.5f)) {
                for (int s = 0; s < lrs.length; s++) {
                    Tensor x = images(arena, 30 + s);
                    tapeLossAndGradients(tapeVit, x, y);
                    GradClip.clipGlobalNorm(CpuBackend.get(), opt.parameters().values(), 0.5);
                    opt.step(CpuBackend.get(), lrs[s]);
                    step.step(x, y, lrs[s]);
                }
                assertEquals(3, step.steps());
                step.copyAdaptersBack();
            }
            opt.parameters().forEach((name, p) -> assertClose(p.value().toFloatArray(), stepVit.namedParameters().get(name).value().toFloatArray(), tol,
                    name + " after 3 steps"));
        }
    }

    @Test
    void oneBatchGivesTheTapesLossAndGradients() {
        checkOneBatch((vit, clip) -> VitLoraStep.onHost(CpuBackend.get(), vit, BATCH, 8f, clip), 1e-6);
    }

    @Test
    void stepsMatchClippedAdamWWithLoraPlus() {
        checkThreeSteps((vit, clip) -> VitLoraStep.onHost(CpuBackend.get(), vit, BATCH, 8f, clip), 1e-5);
    }

    @Test
    void aPartialLastBatchSharesTheAdaptersAndTheirOptimizer() {
        try (Arena arena = Arena.ofConfined()) {
            VisionTransformer tapeVit = model(arena), stepVit = model(arena);
            AdamW opt = AdamW.of(arena, tapeVit.namedParameters(), 0.01f, 8f);
            int[] sizes = {BATCH, BATCH - 1, BATCH}; // an epoch's last batch is often short
            try (VitLoraStep<Tensor> step = VitLoraStep.onHost(CpuBackend.get(), stepVit, BATCH, 8f, 0.5f)) {
                for (int s = 0; s < sizes.length; s++) {
                    Tensor x = images(arena, 40 + s, sizes[s]), y = labels(arena, sizes[s]);
                    tapeLossAndGradients(tapeVit, x, y);
                    GradClip.clipGlobalNorm(CpuBackend.get(), opt.parameters().values(), 0.5);
                    opt.step(CpuBackend.get(), 5e-3f);
                    step.withBatch(sizes[s]).step(x, y, 5e-3f);
                }
                assertEquals(3, step.steps());
                assertEquals(3, step.withBatch(BATCH - 1).steps(), "one count for every batch size");
                step.copyAdaptersBack();
            }
            opt.parameters().forEach((name, p) -> assertClose(p.value().toFloatArray(), stepVit.namedParameters().get(name).value().toFloatArray(), 1e-5,
                    name + " after batches of 3, 2, 3"));
        }
    }

    @Test
    void fitLoraStepTrainsAsFitDoes() throws java.io.IOException {
        // 72 real images in batches of 32: two full batches and a partial one an epoch, two epochs
        int[] idx = new int[72];
        java.util.Arrays.setAll(idx, i -> i);
        org.tune4j.data.ImageDataset data = org.tune4j.data.FashionMnist.embedded().train().subset(idx);
        VisionTransformer.Config c = new VisionTransformer.Config(28, 7, 32, 2, 2, 64, 10);
        Lora.Config lora = new Lora.Config(4, 8f, 0f, false, List.of("qkv", "proj", "fc1", "fc2"), List.of());
        Trainer.Options o = new Trainer.Options(2, 32, 5, 0f, 1.0);
        LrSchedule schedule = LrSchedule.warmupCosine(3e-3f, 1, 6, 1e-5f);
        float[][] adapters = new float[2][];
        Trainer.History[] histories = new Trainer.History[2];
        for (int run = 0; run < 2; run++) {
            try (Arena arena = Arena.ofShared()) {
                VisionTransformer vit = new VisionTransformer(arena, c, new SplittableRandom(3));
                Lora.inject(vit, arena, lora, new SplittableRandom(4));
                if (run == 0) {
                    histories[0] = Trainer.fit(CpuBackend.get(), vit, AdamW.of(arena, vit.namedParameters(), 0.01f, 8f), schedule, data, data, o,
                            new Trainer.Listener() {});
                } else {
                    try (VitLoraStep<Tensor> step = VitLoraStep.onHost(CpuBackend.get(), vit, 32, 8f, 1f)) {
                        histories[1] = Trainer.fitLoraStep(CpuBackend.get(), vit, step, schedule, data, data, o, new Trainer.Listener() {});
                    }
                }
                adapters[run] = vit.namedParameters().get("blocks.1.mlp.fc2.lora_B").value().toFloatArray();
            }
        }
        for (int e = 0; e < 2; e++) {
            assertEquals(histories[0].trainLoss().get(e), histories[1].trainLoss().get(e), 1e-5, "epoch " + e + " mean loss");
            assertEquals(histories[0].valAccuracy().get(e), histories[1].valAccuracy().get(e), 1e-9, "epoch " + e + " accuracy");
        }
        assertClose(adapters[0], adapters[1], 1e-4, "an adapter after two epochs");
    }

    @Test
    void theExperimentsLoraRunTakesAStepMaker() throws java.io.IOException {
        int[] idx = new int[40];
        java.util.Arrays.setAll(idx, i -> i);
        org.tune4j.data.ImageDataset data = org.tune4j.data.FashionMnist.embedded().train().subset(idx);
        Adaptation.Options d = Adaptation.Options.defaults();
        Adaptation.Options o = new Adaptation.Options(40, 0, 1, 16, 7, d.lora(), 1e-3f, 1e-3f, 8f, 1e-3f, 3e-2f, null, 0);
        float[][] adapters = new float[2][];
        for (int run = 0; run < 2; run++) {
            try (Arena arena = Arena.ofShared()) {
                VisionTransformer vit = new VisionTransformer(arena, new VisionTransformer.Config(28, 7, 32, 2, 2, 64, 10), new SplittableRandom(3));
                Adaptation.LoraStepMaker maker = run == 0 ? null : (v, b) -> VitLoraStep.onHost(CpuBackend.get(), v, b, o.loraPlusRatio(), 1f);
                Adaptation.adapt(CpuBackend.get(), arena, vit, "lora", o.loraLr(), o.lora(), o, data, null, new Trainer.Listener() {}, maker);
                adapters[run] = vit.namedParameters().get("blocks.0.attn.qkv.lora_B").value().toFloatArray();
            }
        }
        assertClose(adapters[0], adapters[1], 1e-4, "lora_B after an epoch of 40 images in batches of 16, tape against the step");
        try (Arena arena = Arena.ofShared()) {
            VisionTransformer vit = new VisionTransformer(arena, new VisionTransformer.Config(28, 7, 32, 2, 2, 64, 10), new SplittableRandom(3));
            assertThrows(IllegalArgumentException.class, () -> Adaptation.adapt(CpuBackend.get(), arena, vit, "full", 1e-3f, o.lora(), o, data, null,
                    new Trainer.Listener() {}, (v, b) -> VitLoraStep.onHost(CpuBackend.get(), v, b, 8f, 1f)), "the step trains lora only");
        }
    }

    /**
     * lora-adv through the step (its attacks on the step's own forward and input gradient) against the tape's:
     * as close as without attacks (4e-6 of the scale here; an attack steps by the sign of each pixel's gradient,
     * so a gradient within rounding of 0 could in principle part them further), and far from the same run
     * without attacks, so the attacks did happen.
     */
    @Test
    void theAdversarialLoraRunTakesAStepMaker() throws java.io.IOException {
        int[] idx = new int[40];
        java.util.Arrays.setAll(idx, i -> i);
        org.tune4j.data.ImageDataset data = org.tune4j.data.FashionMnist.embedded().train().subset(idx);
        Adaptation.Options d = Adaptation.Options.defaults();
        float[][] adapters = new float[3][];
        for (int run = 0; run < 3; run++) {
            Adaptation.Options o = new Adaptation.Options(40, 0, 1, 16, 7, d.lora(), 1e-3f, 1e-3f, 8f, 1e-3f, 3e-2f, d.adversarial(), 0);
            try (Arena arena = Arena.ofShared()) {
                VisionTransformer vit = new VisionTransformer(arena, new VisionTransformer.Config(28, 7, 32, 2, 2, 64, 10), new SplittableRandom(3));
                Adaptation.LoraStepMaker maker = run == 0 ? null : (v, b) -> VitLoraStep.onHost(CpuBackend.get(), v, b, o.loraPlusRatio(), 1f);
                Adaptation.adapt(CpuBackend.get(), arena, vit, run < 2 ? "lora-adv" : "lora", o.loraAdvLr(), o.lora(), o, data, null,
                        new Trainer.Listener() {}, maker);
                adapters[run] = vit.namedParameters().get("blocks.0.attn.qkv.lora_B").value().toFloatArray();
            }
        }
        assertClose(adapters[0], adapters[1], 1e-4, "lora_B after an adversarial epoch, tape against the step");
        double apart = 0, scale = 0;
        for (int i = 0; i < adapters[0].length; i++) {
            apart = Math.max(apart, Math.abs(adapters[0][i] - adapters[2][i]));
            scale = Math.max(scale, Math.abs(adapters[0][i]));
        }
        assertTrue(apart > 1e-2 * scale, "the adversarial run ended where the plain one did: " + apart + " of " + scale);
    }

    @Test
    void refusesBadBatches() {
        try (Arena arena = Arena.ofConfined(); VitLoraStep<Tensor> step = VitLoraStep.onHost(CpuBackend.get(), model(arena), BATCH, 8f, 1f)) {
            Tensor y = labels(arena);
            assertThrows(IllegalArgumentException.class, () -> step.step(Tensor.zeros(arena, DType.F32, BATCH + 1, 64), y, 1e-3f), "wrong batch");
            Tensor bad = Tensor.zeros(arena, DType.I32, BATCH);
            bad.setInt(1, 3);
            assertThrows(IllegalArgumentException.class, () -> step.step(images(arena, 1), bad, 1e-3f), "label out of range");
        }
    }
}
