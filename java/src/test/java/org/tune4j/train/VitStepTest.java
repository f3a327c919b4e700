package org.tune4j.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.BiFunction;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.tune4j.autograd.Tape;
import org.tune4j.autograd.Var;
import org.tune4j.backend.CpuBackend;
import org.tune4j.experiments.Adaptation;
import org.tune4j.nn.Lora;
import org.tune4j.nn.LoraLinear;
import org.tune4j.nn.VisionTransformer;
import org.tune4j.optim.AdamW;
import org.tune4j.optim.GradClip;
import org.tune4j.optim.LrSchedule;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * The tape-free ViT step (the code the GPU runs) on host tensors against the tape: the same loss and
 * gradients for one batch, and the same weights after a few clipped AdamW steps, for each way the main
 * job trains (LoRA with LoRA+; LoRA with the head, as robust trains; full fine-tuning with weight decay
 * and label smoothing, as pretraining does; the head alone). A small ViT with odd sizes (5 tokens, heads
 * of 8, batch 3) and nonzero lora_B, so every gradient is nonzero. Its fixtures serve the GPU's test too
 * (CudaVitStepTest).
 */
public class VitStepTest {
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

    /** A way of training: which ViT (what of it trains) and the step's settings (clipping is each check's). */
    public record Kind(String name, Function<Arena, VisionTransformer> model, float weightDecay, float loraPlusRatio, float labelSmoothing) {
        public VitStep.Training training(float maxGradNorm) {
            return new VitStep.Training(weightDecay, loraPlusRatio, maxGradNorm, labelSmoothing);
        }
    }

    public static List<Kind> kinds() {
        return List.of(new Kind("lora", VitStepTest::model, 0.01f, 8f, 0f), new Kind("lora + head", arena -> {
            VisionTransformer vit = model(arena);
            vit.namedModules().get("head").setTrainable(true);
            return vit;
        }, 0.01f, 1f, 0f), new Kind("full", arena -> new VisionTransformer(arena, SMALL, new SplittableRandom(11)), 0.05f, 1f, 0.1f), new Kind("head", arena -> {
            VisionTransformer vit = new VisionTransformer(arena, SMALL, new SplittableRandom(11));
            vit.setTrainable(false);
            vit.namedModules().get("head").setTrainable(true);
            return vit;
        }, 0.01f, 1f, 0f));
    }

    /** The first n images of the embedded Fashion-MNIST training set. */
    static org.tune4j.data.ImageDataset firstTrainImages(int n) throws java.io.IOException {
        int[] idx = new int[n];
        java.util.Arrays.setAll(idx, i -> i);
        return org.tune4j.data.FashionMnist.embedded().train().subset(idx);
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

    /** The tape's loss for the batch, with the trainable parameters' gradients left in them. */
    public static float tapeLossAndGradients(VisionTransformer vit, Tensor x, Tensor y, float smoothing) {
        vit.namedParameters().values().forEach(p -> {
            if (p.trainable()) p.zeroGrad();
        });
        try (Tape t = new Tape(CpuBackend.get(), true)) {
            Var loss = t.crossEntropy(vit.logits(t, x, false), y, smoothing);
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

    /** For each kind: loss and every trainable parameter's gradient of one batch from the step {@code make} builds (batch 3) against the tape's. */
    public static void checkOneBatch(BiFunction<VisionTransformer, VitStep.Training, VitStep<?>> make, double tol) {
        for (Kind kind : kinds()) {
            try (Arena arena = Arena.ofConfined()) {
                VisionTransformer vit = kind.model().apply(arena);
                Tensor x = images(arena, 21), y = labels(arena);
                float tapeLoss = tapeLossAndGradients(vit, x, y, kind.labelSmoothing());
                try (VitStep<?> step = make.apply(vit, kind.training(1f))) {
                    step.computeGradients(x, y);
                    assertEquals(tapeLoss, step.loss(), tol * Math.max(1, Math.abs(tapeLoss)), kind.name() + ": loss");
                    Map<String, float[]> grads = step.gradients();
                    assertEquals(vit.namedParameters().values().stream().filter(p -> p.trainable()).count(), grads.size(), kind.name() + ": gradients");
                    grads.forEach((name, g) -> assertClose(vit.namedParameters().get(name).grad().toFloatArray(), g, 10 * tol,
                            kind.name() + ": " + name + " gradient"));
                }
            }
        }
    }

    /** For each kind: what trains after three steps (clipping at 0.5) of the step {@code make} builds against the tape, AdamW and clipping's. */
    public static void checkThreeSteps(BiFunction<VisionTransformer, VitStep.Training, VitStep<?>> make, double tol) {
        for (Kind kind : kinds()) {
            try (Arena arena = Arena.ofConfined()) {
                VisionTransformer tapeVit = kind.model().apply(arena), stepVit = kind.model().apply(arena);
                Tensor y = labels(arena);
                AdamW opt = AdamW.of(arena, tapeVit.namedParameters(), kind.weightDecay(), kind.loraPlusRatio());
                float[] lrs = {1e-2f, 5e-3f, 2e-3f};
                try (VitStep<?> step = make.apply(stepVit, kind.training(0.5f))) {
                    for (int s = 0; s < lrs.length; s++) {
                        Tensor x = images(arena, 30 + s);
                        tapeLossAndGradients(tapeVit, x, y, kind.labelSmoothing());
                        GradClip.clipGlobalNorm(CpuBackend.get(), opt.parameters().values(), 0.5);
                        opt.step(CpuBackend.get(), lrs[s]);
                        step.step(x, y, lrs[s]);
                    }
                    assertEquals(3, step.steps());
                    step.copyTrainedBack();
                }
                opt.parameters().forEach((name, p) -> assertClose(withoutKeyBias(name, p.value().toFloatArray()),
                        withoutKeyBias(name, stepVit.namedParameters().get(name).value().toFloatArray()), tol, kind.name() + ": " + name + " after 3 steps"));
            }
        }
    }

    /**
     * The values of a parameter to compare after AdamW steps: qkv's bias without its key part. The keys' bias
     * has no gradient in exact arithmetic (q·(k + b) moves every score of a query alike, and softmax ignores
     * that), so what it gets is rounding noise, which AdamW scales up to steps near lr × noise / eps: two
     * correct implementations summing in another order (a GPU's) part there. Its gradient is checked where
     * the gradients are (checkOneBatch), against a scale set by the others.
     */
    private static float[] withoutKeyBias(String name, float[] values) {
        if (!name.endsWith("attn.qkv.bias")) return values;
        int d = values.length / 3;
        float[] out = new float[2 * d];
        System.arraycopy(values, 0, out, 0, d);
        System.arraycopy(values, 2 * d, out, d, d);
        return out;
    }

    @Test
    void oneBatchGivesTheTapesLossAndGradients() {
        checkOneBatch((vit, training) -> VitStep.onHost(CpuBackend.get(), vit, BATCH, training), 1e-6);
    }

    @Test
    void stepsMatchClippedAdamW() {
        checkThreeSteps((vit, training) -> VitStep.onHost(CpuBackend.get(), vit, BATCH, training), 1e-5);
    }

    /**
     * Batches of 3, 2, 3, 2, 3, 2 images (an epoch's last batch is often short) through one step of each size
     * sharing the weights and AdamW's state, against the tape: on a GPU each size runs op by op, then is recorded
     * as a CUDA graph, then replayed, in turn with the other's runs (its scratch must outlive the other's).
     */
    public static void checkAlternatingBatchSizes(BiFunction<VisionTransformer, VitStep.Training, VitStep<?>> make, double tol) {
        try (Arena arena = Arena.ofConfined()) {
            VisionTransformer tapeVit = model(arena), stepVit = model(arena);
            AdamW opt = AdamW.of(arena, tapeVit.namedParameters(), 0.01f, 8f);
            int[] sizes = {BATCH, BATCH - 1, BATCH, BATCH - 1, BATCH, BATCH - 1};
            try (VitStep<?> step = make.apply(stepVit, VitStep.Training.adaptation(8f, 0.5f))) {
                for (int s = 0; s < sizes.length; s++) {
                    Tensor x = images(arena, 40 + s, sizes[s]), y = labels(arena, sizes[s]);
                    float tapeLoss = tapeLossAndGradients(tapeVit, x, y, 0f);
                    GradClip.clipGlobalNorm(CpuBackend.get(), opt.parameters().values(), 0.5);
                    opt.step(CpuBackend.get(), 5e-3f);
                    VitStep<?> sized = step.withBatch(sizes[s]);
                    sized.step(x, y, 5e-3f);
                    assertEquals(tapeLoss, sized.loss(), tol * Math.max(1, Math.abs(tapeLoss)), "the loss of batch " + s);
                }
                assertEquals(sizes.length, step.steps());
                assertEquals(sizes.length, step.withBatch(BATCH - 1).steps(), "one count for every batch size");
                step.copyTrainedBack();
            }
            opt.parameters().forEach((name, p) -> assertClose(p.value().toFloatArray(), stepVit.namedParameters().get(name).value().toFloatArray(), tol,
                    name + " after batches of 3, 2, 3, 2, 3, 2"));
        }
    }

    @Test
    void batchesOfTwoSizesShareTheWeightsAndTheirOptimizer() {
        checkAlternatingBatchSizes((vit, training) -> VitStep.onHost(CpuBackend.get(), vit, BATCH, training), 1e-5);
    }

    /** Trainer.fitStep against Trainer.fit: LoRA as the demo trains it, and full training as pretraining does (weight decay, label smoothing). */
    @Test
    void fitStepTrainsAsFitDoes() throws java.io.IOException {
        // 72 real images in batches of 32: two full batches and a partial one an epoch, two epochs
        org.tune4j.data.ImageDataset data = firstTrainImages(72);
        VisionTransformer.Config c = new VisionTransformer.Config(28, 7, 32, 2, 2, 64, 10);
        Lora.Config lora = new Lora.Config(4, 8f, 0f, false, List.of("qkv", "proj", "fc1", "fc2"), List.of());
        LrSchedule schedule = LrSchedule.warmupCosine(3e-3f, 1, 6, 1e-5f);
        for (boolean full : new boolean[] {false, true}) {
            float wd = full ? 0.05f : 0.01f, ratio = full ? 1f : 8f, smoothing = full ? 0.05f : 0f;
            Trainer.Options o = new Trainer.Options(2, 32, 5, smoothing, 1.0);
            String watched = full ? "blocks.1.mlp.fc2.weight" : "blocks.1.mlp.fc2.lora_B";
            float[][] trained = new float[2][];
            Trainer.History[] histories = new Trainer.History[2];
            for (int run = 0; run < 2; run++) {
                try (Arena arena = Arena.ofShared()) {
                    VisionTransformer vit = new VisionTransformer(arena, c, new SplittableRandom(3));
                    if (!full) Lora.inject(vit, arena, lora, new SplittableRandom(4));
                    if (run == 0) {
                        histories[0] = Trainer.fit(CpuBackend.get(), vit, AdamW.of(arena, vit.namedParameters(), wd, ratio), schedule, data, data, o,
                                new Trainer.Listener() {});
                    } else {
                        try (VitStep<Tensor> step = VitStep.onHost(CpuBackend.get(), vit, 32, new VitStep.Training(wd, ratio, 1f, smoothing))) {
                            histories[1] = Trainer.fitStep(CpuBackend.get(), vit, step, schedule, data, data, o, new Trainer.Listener() {});
                        }
                    }
                    trained[run] = vit.namedParameters().get(watched).value().toFloatArray();
                }
            }
            for (int e = 0; e < 2; e++) {
                assertEquals(histories[0].trainLoss().get(e), histories[1].trainLoss().get(e), 1e-5, watched + ": epoch " + e + " mean loss");
                assertEquals(histories[0].valAccuracy().get(e), histories[1].valAccuracy().get(e), 1e-9, watched + ": epoch " + e + " accuracy");
            }
            assertClose(trained[0], trained[1], 1e-4, watched + " after two epochs");
        }
        try (Arena arena = Arena.ofShared(); VitStep<Tensor> step = VitStep.onHost(CpuBackend.get(), new VisionTransformer(arena, c, new SplittableRandom(3)), 32,
                VitStep.Training.adaptation(1f, 1f))) {
            assertThrows(IllegalArgumentException.class, () -> Trainer.fitStep(CpuBackend.get(), new VisionTransformer(arena, c, new SplittableRandom(3)), step,
                    schedule, data, data, new Trainer.Options(1, 32, 5, 0.1f, 1.0), new Trainer.Listener() {}), "a step that smooths no labels for options that do");
        }
    }

    @Test
    void theExperimentsMethodsTakeAStepMaker() throws java.io.IOException {
        org.tune4j.data.ImageDataset data = firstTrainImages(40);
        Adaptation.Options d = Adaptation.Options.defaults();
        Adaptation.Options o = new Adaptation.Options(40, 0, 1, 16, 7, d.lora(), 1e-3f, 1e-3f, 8f, 1e-3f, 3e-2f, null, 0);
        Map<String, String> watched = Map.of("lora", "blocks.0.attn.qkv.lora_B", "full", "blocks.0.attn.qkv.weight", "head", "head.weight");
        for (Map.Entry<String, String> method : watched.entrySet()) {
            float[][] trained = new float[2][];
            for (int run = 0; run < 2; run++) {
                try (Arena arena = Arena.ofShared()) {
                    VisionTransformer vit = new VisionTransformer(arena, new VisionTransformer.Config(28, 7, 32, 2, 2, 64, 10), new SplittableRandom(3));
                    Adaptation.StepMaker maker = run == 0 ? null
                            : (v, b) -> VitStep.onHost(CpuBackend.get(), v, b, VitStep.Training.adaptation(o.loraPlusRatio(), 1f));
                    float lr = method.getKey().equals("head") ? o.headLr() : method.getKey().equals("full") ? o.fullLr() : o.loraLr();
                    Adaptation.adapt(CpuBackend.get(), arena, vit, method.getKey(), lr, o.lora(), o, data, null, new Trainer.Listener() {}, maker);
                    trained[run] = vit.namedParameters().get(method.getValue()).value().toFloatArray();
                }
            }
            assertClose(trained[0], trained[1], 1e-4, method.getValue() + " after an epoch of 40 images in batches of 16, tape against the step");
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
        org.tune4j.data.ImageDataset data = firstTrainImages(40);
        Adaptation.Options d = Adaptation.Options.defaults();
        float[][] adapters = new float[3][];
        for (int run = 0; run < 3; run++) {
            Adaptation.Options o = new Adaptation.Options(40, 0, 1, 16, 7, d.lora(), 1e-3f, 1e-3f, 8f, 1e-3f, 3e-2f, d.adversarial(), 0);
            try (Arena arena = Arena.ofShared()) {
                VisionTransformer vit = new VisionTransformer(arena, new VisionTransformer.Config(28, 7, 32, 2, 2, 64, 10), new SplittableRandom(3));
                Adaptation.StepMaker maker = run == 0 ? null
                        : (v, b) -> VitStep.onHost(CpuBackend.get(), v, b, VitStep.Training.adaptation(o.loraPlusRatio(), 1f));
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
        try (Arena arena = Arena.ofConfined(); VitStep<Tensor> step = VitStep.onHost(CpuBackend.get(), model(arena), BATCH, VitStep.Training.adaptation(8f, 1f))) {
            Tensor y = labels(arena);
            assertThrows(IllegalArgumentException.class, () -> step.step(Tensor.zeros(arena, DType.F32, BATCH + 1, 64), y, 1e-3f), "wrong batch");
            Tensor bad = Tensor.zeros(arena, DType.I32, BATCH);
            bad.setInt(1, 3);
            assertThrows(IllegalArgumentException.class, () -> step.step(images(arena, 1), bad, 1e-3f), "label out of range");
        }
    }
}
