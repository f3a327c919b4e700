package org.tune4j.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tune4j.train.VitFixtures.assertClose;
import static org.tune4j.train.VitFixtures.images;
import static org.tune4j.train.VitFixtures.labels;

import java.lang.foreign.Arena;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.tune4j.autograd.Parameter;
import org.tune4j.autograd.Tape;
import org.tune4j.autograd.Var;
import org.tune4j.autograd.Workspace;
import org.tune4j.backend.Backend;
import org.tune4j.backend.CpuBackend;
import org.tune4j.data.FashionMnist;
import org.tune4j.data.ImageDataset;
import org.tune4j.eval.Evaluate;
import org.tune4j.experiments.Adaptation;
import org.tune4j.io.ModelFile;
import org.tune4j.nn.Classifier;
import org.tune4j.nn.LoraLinear;
import org.tune4j.robust.CorruptionReport;
import org.tune4j.train.Trainer;
import org.tune4j.nn.VisionTransformer;
import org.tune4j.optim.AdamW;
import org.tune4j.optim.GradClip;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;
import org.tune4j.train.VitFixtures;

/**
 * The one tape on the GPU: the ViT of {@code nn}, its parameters moved into the CUDA backend's memory, trained by
 * the same tape, clipping and AdamW as on the CPU, for each way the main job trains (VitFixtures' kinds): the
 * same losses and the same weights after three steps, and not one op run on the CPU for want of a kernel; the logits
 * and input gradients evaluation and attacks take; the demo's measures and the experiment's methods end to end. And
 * the boundary: a device tensor is not read from Java, and the CPU backend refuses it by name. Skips: {@link GpuTest}.
 */
class CudaTapeTest extends GpuTest {
    private static final int STEPS = 3;
    private static final float LR = 1e-2f;

    @Test
    void theTapeTrainsEveryKindOfVitOnTheGpuAsOnTheCpuWithoutFallingBack() {
        for (VitFixtures.Kind kind : VitFixtures.kinds()) assertTrainsAsOnTheCpu(kind);
    }

    /** DoRA (its row norms, magnitudes and scales) and LoRA dropout train on the GPU as on the CPU, without a fallback. */
    @Test
    void doraAndDropoutTrainOnTheGpuAsOnTheCpu() {
        assertTrainsAsOnTheCpu(new VitFixtures.Kind("dora", arena -> {
            VisionTransformer vit = new VisionTransformer(arena, VitFixtures.SMALL, new SplittableRandom(11));
            org.tune4j.nn.Lora.inject(vit, arena, new org.tune4j.nn.Lora.Config(2, 4f, 0.25f, false, List.of("qkv", "proj", "fc1", "fc2"), List.of())
                    .withVariant(false, true), new SplittableRandom(12));
            return vit;
        }, 0.01f, 8f, 0f));
    }

    /**
     * {@code kind}'s ViT trained STEPS steps on the CPU and, moved into device memory, on the GPU: no op fell back, the
     * same losses, every trained weight on the GPU and the CPU's after training.
     */
    private static void assertTrainsAsOnTheCpu(VitFixtures.Kind kind) {
        try (Arena arena = Arena.ofConfined()) {
            VisionTransformer onCpu = kind.model().apply(arena), onGpu = kind.model().apply(arena);
            onGpu.moveTo(gpu.memory(), arena);
            float[] cpuLosses = train(CpuBackend.get(), onCpu, kind, arena);
            gpu.resetFallbacks();
            float[] gpuLosses = train(gpu, onGpu, kind, arena);
            assertEquals(Map.of(), gpu.fallbacks(), kind.name() + ": ops the GPU backend ran on the CPU");
            assertClose(cpuLosses, gpuLosses, 1e-5, kind.name() + ": losses of " + STEPS + " steps");
            Map<String, Parameter> gpuParams = onGpu.namedParameters();
            onCpu.namedParameters().forEach((name, p) -> {
                if (!p.trainable()) return;
                assertTrue(!gpuParams.get(name).value().isHost(), name + " lives on the GPU");
                float[] cpu = p.value().toFloatArray(), cuda = gpuParams.get(name).value().toFloatArray();
                if (name.endsWith("qkv.bias")) { // the key bias: zero gradient in exact arithmetic (each softmax row shifts by q·b_k),
                    int d = cpu.length / 3;      // so AdamW steps it by the sign of rounding noise: within lr per step of the CPU's
                    for (int i = d; i < 2 * d; i++) assertEquals(cpu[i], cuda[i], STEPS * LR * 1.01, name + " [" + i + "], a key bias");
                    for (int i = d; i < 2 * d; i++) cuda[i] = cpu[i];
                }
                assertClose(cpu, cuda, 1e-4, kind.name() + ": " + name + " after training");
            });
        }
    }

    /** STEPS clipped AdamW steps of the tape on a workspace, as Trainer.fit takes them; the loss of each. */
    private static float[] train(Backend backend, VisionTransformer vit, VitFixtures.Kind kind, Arena arena) {
        AdamW optimizer = AdamW.of(arena, vit.namedParameters(), kind.weightDecay(), kind.loraPlusRatio());
        float[] losses = new float[STEPS];
        try (Workspace workspace = new Workspace()) {
            for (int s = 0; s < STEPS; s++) {
                try (Arena batch = Arena.ofConfined(); Tape t = new Tape(backend, true, true, workspace)) {
                    Var loss = t.crossEntropy(vit.logits(t, images(batch, 21 + s), false), labels(batch), kind.labelSmoothing());
                    losses[s] = loss.value().getFloat(0);
                    t.backward(loss);
                }
                GradClip.clipGlobalNorm(backend, optimizer.parameters().values(), 0.5);
                optimizer.step(backend, LR);
            }
        }
        return losses;
    }

    /** The three kinds of ViT an evaluation or an attack meets: unmerged adapters, merged ones, none. */
    private static List<Function<Arena, VisionTransformer>> evaluated() {
        return List.of(VitFixtures::model, arena -> {
            VisionTransformer vit = VitFixtures.model(arena);
            vit.namedModules().values().forEach(m -> {
                if (m instanceof LoraLinear l) l.merge(CpuBackend.get());
            });
            return vit;
        }, arena -> new VisionTransformer(arena, VitFixtures.SMALL, new SplittableRandom(21)));
    }

    @Test
    void logitsAndInputGradientsOnTheGpuAreTheCpus() {
        for (Function<Arena, VisionTransformer> kind : evaluated())
            for (int n : new int[] {1, 3, 5}) {
                try (Arena arena = Arena.ofConfined()) {
                    Tensor x = images(arena, 31 + n, n), y = labels(arena, n);
                    float[][] expected = logitsAndInputGradient(CpuBackend.get(), kind.apply(arena), x, y);
                    VisionTransformer onGpu = kind.apply(arena);
                    onGpu.moveTo(gpu.memory(), arena);
                    gpu.resetFallbacks();
                    float[][] actual = logitsAndInputGradient(gpu, onGpu, x, y);
                    assertEquals(Map.of(), gpu.fallbacks(), "ops the GPU backend ran on the CPU");
                    assertClose(expected[0], actual[0], 1e-5, "logits at batch " + n);
                    assertClose(expected[1], actual[1], 1e-5, "input gradient at batch " + n);
                }
            }
    }

    @Test
    void theShippedVitsLogitsAndInputGradientOnTheGpuAreTheCpus() throws java.io.IOException {
        try (Arena arena = Arena.ofShared()) {
            SplittableRandom rng = new SplittableRandom(61);
            float[] pixels = new float[7 * 28 * 28];
            for (int i = 0; i < pixels.length; i++) pixels[i] = (float) rng.nextDouble();
            Tensor x = Tensor.of(arena, pixels, 7, 28 * 28), y = labels(arena, 7);
            float[][] expected = logitsAndInputGradient(CpuBackend.get(), ModelFile.load(arena, null), x, y);
            VisionTransformer onGpu = ModelFile.load(arena, null);
            onGpu.moveTo(gpu.memory(), arena);
            float[][] actual = logitsAndInputGradient(gpu, onGpu, x, y);
            assertClose(expected[0], actual[0], 1e-4, "the shipped ViT's logits"); // 4 blocks of cuBLAS sums in another order
            assertClose(expected[1], actual[1], 1e-4, "the shipped ViT's input gradient");
        }
    }

    private static float[][] logitsAndInputGradient(Backend backend, Classifier model, Tensor x, Tensor y) {
        try (Tape t = new Tape(backend, true, false)) {
            Var input = t.input(x, true);
            Var logits = model.logits(t, input);
            t.backward(t.crossEntropy(logits, y, 0f));
            return new float[][] {logits.value().toFloatArray(), input.grad().toFloatArray()};
        }
    }

    /**
     * The demo's measures of a model through the GPU are the CPU's: accuracies and flips exactly; PGD and corruption
     * errors within one image of 24, since an attack steps by the sign of each pixel's gradient, and a gradient near 0
     * may round either way.
     */
    @Test
    void theDemosMeasuresOnTheGpuAreTheCpus() throws java.io.IOException {
        FashionMnist.Source data = FashionMnist.embedded();
        ImageDataset target = Adaptation.targetTest(data, 7).first(24), source = data.test().first(24);
        try (Arena arena = Arena.ofShared()) {
            VisionTransformer vit = ModelFile.load(arena, null);
            var corruption = CorruptionReport.errors(CpuBackend.get(), vit, source, 7);
            int[] predictions = Evaluate.predict(CpuBackend.get(), vit, source, 256);
            Adaptation.Evaluation expected = Adaptation.evaluate(CpuBackend.get(), vit, target, source, corruption, predictions, 7);
            vit.moveTo(gpu.memory(), arena);
            Adaptation.Evaluation actual = Adaptation.evaluate(gpu, vit, target, source, corruption, predictions, 7);
            assertEquals(expected.targetAccuracy(), actual.targetAccuracy());
            assertEquals(expected.sourceAccuracy(), actual.sourceAccuracy());
            assertEquals(expected.negativeFlipRateSource(), actual.negativeFlipRateSource());
            assertEquals(expected.targetEce(), actual.targetEce(), 1e-5);
            double oneImage = 1.0 / 24 + 1e-9;
            assertEquals(expected.pgd005(), actual.pgd005(), oneImage);
            assertEquals(expected.pgd01(), actual.pgd01(), oneImage);
            assertEquals(expected.corruptionError(), actual.corruptionError(), oneImage);
            assertTrue(expected.targetAccuracy() > expected.pgd01(), "the attack did nothing: the comparison would prove little");
        }
    }

    /**
     * Trainer.fit on the GPU records its step (forward, backward, clipping, the loss kept on the device) as a CUDA graph
     * at the third full batch and replays it from then on: the same losses and weights as the same run op by op
     * ({@code -Dtune4j.recordSteps=false}), bit for bit, with a short batch at each epoch's end run op by op beside the
     * graph and nothing run on the CPU. A model with LoRA dropout draws its masks on the host every step: its recording
     * is refused (a copy from the host), and it trains op by op, saying why.
     */
    @Test
    void trainerRecordsItsStepAsACudaGraphAndReplaysItBitForBit() throws java.io.IOException {
        ImageDataset data = VitFixtures.firstTrainImages(88); // 5 batches of 16 and one of 8, twice
        String[] how = new String[2];
        float[][] weights = new float[2][];
        List<?>[] losses = new List<?>[2];
        try {
            for (int record = 0; record < 2; record++) {
                System.setProperty("tune4j.recordSteps", String.valueOf(record == 1));
                try (Arena arena = Arena.ofShared()) {
                    VisionTransformer vit = loraVit(arena, 0f);
                    Trainer.History h = trainOnGpu(vit, arena, data);
                    how[record] = h.deviceSteps();
                    losses[record] = h.trainLoss();
                    weights[record] = vit.namedParameters().get("blocks.1.attn.qkv.lora_B").value().toFloatArray();
                }
            }
            assertEquals("op by op (recording off)", how[0]);
            assertEquals("recorded as a CUDA graph", how[1]);
            assertEquals(losses[0], losses[1], "mean losses of each epoch");
            assertTrue(java.util.Arrays.equals(weights[0], weights[1]), "blocks.1.attn.qkv.lora_B after training, bit for bit");
            try (Arena arena = Arena.ofShared()) {
                Trainer.History h = trainOnGpu(loraVit(arena, 0.25f), arena, data);
                assertTrue(h.deviceSteps().startsWith("op by op: ") && h.deviceSteps().contains("CUDA graph"), h.deviceSteps());
                assertTrue(h.trainLoss().stream().allMatch(l -> Double.isFinite(l)), "losses " + h.trainLoss());
            }
        } finally {
            System.clearProperty("tune4j.recordSteps");
        }
    }

    /**
     * PGD on the GPU moves no image data between its steps: the images (the random start and the originals) and labels go
     * to the device once, the attacked images come back once, the same bytes at 1 step and at 6; and they are the CPU's.
     */
    @Test
    void pgdKeepsTheImagesOnTheGpuBetweenItsSteps() {
        try (Arena arena = Arena.ofConfined()) {
            int n = 5;
            Tensor x = images(arena, 41, n), y = labels(arena, n);
            VisionTransformer onCpu = VitFixtures.model(arena), onGpu = VitFixtures.model(arena);
            onGpu.moveTo(gpu.memory(), arena);
            org.tune4j.robust.Attacks.perturb(gpu, onGpu, x.copy(arena), y, new org.tune4j.robust.Attacks.Pgd(0.1f, 0.03f, 1, true), new SplittableRandom(1)); // the model's first use: its patch indices go to the device
            CudaMemory memory = (CudaMemory) gpu.memory();
            long imageBytes = 4L * x.numel(), labelBytes = 4L * n;
            for (int steps : new int[] {1, 6}) {
                org.tune4j.robust.Attacks.Pgd pgd = new org.tune4j.robust.Attacks.Pgd(0.1f, 0.03f, steps, true);
                Tensor onTheCpu = x.copy(arena), onTheGpu = x.copy(arena);
                org.tune4j.robust.Attacks.perturb(CpuBackend.get(), onCpu, onTheCpu, y, pgd, new SplittableRandom(5));
                gpu.resetFallbacks();
                long[] before = memory.hostCopyBytes();
                org.tune4j.robust.Attacks.perturb(gpu, onGpu, onTheGpu, y, pgd, new SplittableRandom(5));
                long[] after = memory.hostCopyBytes();
                assertEquals(Map.of(), gpu.fallbacks(), "ops the GPU backend ran on the CPU");
                assertEquals(2 * imageBytes + labelBytes, after[0] - before[0], steps + " steps: bytes to the GPU (start, originals, labels)");
                assertEquals(imageBytes, after[1] - before[1], steps + " steps: bytes back (the attacked images)");
                assertClose(onTheCpu.toFloatArray(), onTheGpu.toFloatArray(), 1e-6, steps + "-step PGD on the GPU and the CPU");
            }
        }
    }

    private static VisionTransformer loraVit(Arena arena, float dropout) {
        VisionTransformer vit = new VisionTransformer(arena, new VisionTransformer.Config(28, 7, 32, 2, 2, 64, 10), new SplittableRandom(3));
        org.tune4j.nn.Lora.inject(vit, arena, new org.tune4j.nn.Lora.Config(4, 8f, dropout, false, List.of("qkv", "proj", "fc1", "fc2"), List.of("head")),
                new SplittableRandom(4));
        vit.moveTo(gpu.memory(), arena);
        return vit;
    }

    /** Two epochs of Trainer.fit on the GPU (batches of 16, clipping, label smoothing), not one op run on the CPU. */
    private static Trainer.History trainOnGpu(VisionTransformer vit, Arena arena, ImageDataset data) {
        AdamW opt = AdamW.of(arena, vit.namedParameters(), 0.01f, 4f);
        gpu.resetFallbacks();
        Trainer.History h = Trainer.fit(gpu, vit, opt, step -> 2e-3f / (1 + step), data, null, new Trainer.Options(2, 16, 5, 0.1f, 0.5), new Trainer.Listener() {});
        assertEquals(Map.of(), gpu.fallbacks(), "ops the GPU backend ran on the CPU");
        return h;
    }

    /**
     * The experiment's methods adapted on the GPU as on the CPU (Adaptation.adapt: Trainer.fit, its schedule, clipping,
     * AdamW and LoRA+; lora-adv's attacks through the model on the GPU), on 40 real images in batches of 16.
     */
    @Test
    void theExperimentsMethodsTrainOnTheGpuAsOnTheCpu() throws java.io.IOException {
        ImageDataset data = VitFixtures.firstTrainImages(40);
        Adaptation.Options d = Adaptation.Options.defaults();
        Map<String, String> watched = Map.of("lora", "blocks.0.attn.qkv.lora_B", "full", "blocks.0.mlp.fc1.weight", "head", "head.weight",
                "lora-adv", "blocks.1.mlp.fc2.lora_B");
        for (Map.Entry<String, String> method : watched.entrySet()) {
            Adaptation.Options o = new Adaptation.Options(40, 0, 1, 16, 7, d.lora(), 1e-3f, 1e-3f, 8f, 1e-3f, 3e-2f,
                    method.getKey().equals("lora-adv") ? d.adversarial() : null, 0, 1);
            float[][] trained = new float[2][];
            for (Backend backend : new Backend[] {CpuBackend.get(), gpu}) {
                try (Arena arena = Arena.ofShared()) {
                    VisionTransformer vit = new VisionTransformer(arena, new VisionTransformer.Config(28, 7, 32, 2, 2, 64, 10), new SplittableRandom(3));
                    Adaptation.adapt(backend, arena, vit, method.getKey(), 1e-3f, o.lora(), o, data, null, new Trainer.Listener() {});
                    trained[backend == gpu ? 1 : 0] = vit.namedParameters().get(method.getValue()).value().toFloatArray();
                }
            }
            assertClose(trained[0], trained[1], method.getKey().equals("lora-adv") ? 1e-2 : 1e-4, method.getKey() + ": " + method.getValue());
        }
    }

    @Test
    void deviceTensorsAreNotReadFromJavaAndTheCpuBackendRefusesThemByName() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor d = gpu.memory().zeros(arena, DType.F32, 2, 3), h = Tensor.zeros(arena, DType.F32, 2, 3);
            IllegalStateException read = assertThrows(IllegalStateException.class, () -> d.getFloat(0, 0));
            assertTrue(read.getMessage().contains("cuda:0"), read.getMessage());
            IllegalArgumentException cpu = assertThrows(IllegalArgumentException.class, () -> CpuBackend.get().add(h, d, h));
            assertTrue(cpu.getMessage().startsWith("b lives in cuda:0 memory"), cpu.getMessage());
            h.setFloat(1, 2, 7f);
            d.copyFrom(h);
            Tensor back = d.copy(arena, org.tune4j.tensor.Memory.HOST);
            assertEquals(7f, back.getFloat(1, 2));
            Tensor column = Tensor.zeros(arena, DType.F32, 2, 1);
            column.copyFrom(d.view(0, 2, 2, 1)); // a strided device view to the host
            assertEquals(7f, column.getFloat(1, 0));
        }
    }
}
