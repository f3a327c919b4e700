package org.tune4j.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tune4j.train.VitStepTest.assertClose;
import static org.tune4j.train.VitStepTest.images;
import static org.tune4j.train.VitStepTest.labels;
import static org.tune4j.train.VitStepTest.model;

import java.lang.foreign.Arena;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.tune4j.autograd.Tape;
import org.tune4j.autograd.Var;
import org.tune4j.backend.CpuBackend;
import org.tune4j.data.FashionMnist;
import org.tune4j.data.ImageDataset;
import org.tune4j.eval.Evaluate;
import org.tune4j.experiments.Adaptation;
import org.tune4j.io.ModelFile;
import org.tune4j.nn.Classifier;
import org.tune4j.nn.Lora;
import org.tune4j.nn.LoraLinear;
import org.tune4j.nn.VisionTransformer;
import org.tune4j.robust.Attacks;
import org.tune4j.robust.CorruptionReport;
import org.tune4j.tensor.Tensor;

/**
 * The ViT's forward and input gradient through the tape-free step (the code the GPU runs), as a Classifier,
 * against the ViT on the tape: the same logits and the same gradient of the loss with respect to the
 * images, for a ViT with unmerged adapters, one with merged adapters and one without, at batch 1, 3 and 5.
 * Its checks serve the GPU's test too (CudaVitStepTest).
 */
public class DeviceClassifierTest {
    /** The three kinds of ViT the device forward takes. */
    public static List<Function<Arena, VisionTransformer>> models() {
        return List.of(VitStepTest::model, arena -> {
            VisionTransformer vit = model(arena);
            vit.namedModules().values().forEach(m -> {
                if (m instanceof LoraLinear l) l.merge(CpuBackend.get());
            });
            return vit;
        }, arena -> new VisionTransformer(arena, VitStepTest.SMALL, new SplittableRandom(21)));
    }

    /** Logits, and the loss's gradient with respect to the images, of the classifier {@code make} builds against the ViT's own on the tape. */
    public static void checkLogitsAndInputGradient(Function<VisionTransformer, DeviceClassifier> make, double tol) {
        for (Function<Arena, VisionTransformer> kind : models())
            for (int n : new int[] {1, 3, 5}) {
                try (Arena arena = Arena.ofConfined()) {
                    VisionTransformer vit = kind.apply(arena);
                    Tensor x = images(arena, 31 + n, n), y = labels(arena, n);
                    float[][] expected = logitsAndInputGradient(vit, x, y);
                    try (DeviceClassifier device = make.apply(vit)) {
                        float[][] actual = logitsAndInputGradient(device, x, y);
                        assertClose(expected[0], actual[0], tol, "logits at batch " + n);
                        assertClose(expected[1], actual[1], tol, "input gradient at batch " + n);
                    }
                }
            }
    }

    /** The same on the shipped ViT (28×28, patch 7, width 128, 4 blocks) at batch 7, random images. */
    public static void checkShippedVit(Function<VisionTransformer, DeviceClassifier> make, double tol) throws java.io.IOException {
        try (Arena arena = Arena.ofShared()) {
            VisionTransformer vit = ModelFile.load(arena, null);
            SplittableRandom rng = new SplittableRandom(61);
            float[] pixels = new float[7 * vit.config().image() * vit.config().image()];
            for (int i = 0; i < pixels.length; i++) pixels[i] = (float) rng.nextDouble();
            Tensor x = Tensor.of(arena, pixels, 7, pixels.length / 7), y = labels(arena, 7);
            float[][] expected = logitsAndInputGradient(vit, x, y);
            try (DeviceClassifier device = make.apply(vit)) {
                float[][] actual = logitsAndInputGradient(device, x, y);
                assertClose(expected[0], actual[0], tol, "the shipped ViT's logits");
                assertClose(expected[1], actual[1], tol, "the shipped ViT's input gradient");
            }
        }
    }

    /** A PGD attack through the classifier {@code make} builds stays in its box and raises the loss. */
    public static void checkAttack(Function<VisionTransformer, DeviceClassifier> make) {
        try (Arena arena = Arena.ofConfined(); DeviceClassifier device = make.apply(model(arena))) {
            Tensor x = images(arena, 41, 4), y = labels(arena, 4), adv = x.copy(arena);
            Attacks.perturb(CpuBackend.get(), device, adv, y, Attacks.Pgd.standard(0.1f, 5), new SplittableRandom(5));
            float[] before = x.toFloatArray(), after = adv.toFloatArray();
            for (int i = 0; i < before.length; i++) {
                assertTrue(Math.abs(after[i] - before[i]) <= 0.1f + 1e-6f && after[i] >= 0 && after[i] <= 1, "pixel " + i + " left the box: " + after[i]);
            }
            assertTrue(loss(device, adv, y) > loss(device, x, y) + 1e-3, "the attack did not raise the loss");
        }
    }

    @Test
    void hostStepGivesTheTapesLogitsAndInputGradient() {
        checkLogitsAndInputGradient(vit -> DeviceClassifier.onHost(CpuBackend.get(), vit), 1e-5);
    }

    @Test
    void hostStepGivesTheShippedVitsLogitsAndInputGradient() throws java.io.IOException {
        checkShippedVit(vit -> DeviceClassifier.onHost(CpuBackend.get(), vit), 1e-5);
    }

    /**
     * The demo's measures of a model (what {@code demo --device cuda} takes from the GPU) are the same through
     * the step as on the ViT: accuracies and flips exactly; PGD and corruption errors within one image of 24,
     * since an attack steps by the sign of each pixel's gradient, and a gradient near 0 may round either way.
     */
    @Test
    void theDemosMeasuresAreTheSameThroughTheStep() throws java.io.IOException {
        FashionMnist.Source data = FashionMnist.embedded();
        ImageDataset target = Adaptation.targetTest(data, 7).first(24), source = data.test().first(24);
        try (Arena arena = Arena.ofShared()) {
            VisionTransformer vit = ModelFile.load(arena, null);
            var corruption = CorruptionReport.errors(CpuBackend.get(), vit, source, 7);
            int[] predictions = Evaluate.predict(CpuBackend.get(), vit, source, 256);
            Adaptation.Evaluation expected = Adaptation.evaluate(CpuBackend.get(), vit, target, source, corruption, predictions, 7), actual;
            try (DeviceClassifier step = DeviceClassifier.onHost(CpuBackend.get(), vit)) {
                actual = Adaptation.evaluate(CpuBackend.get(), step, target, source, corruption, predictions, 7);
            }
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

    @Test
    void attackThroughTheStepStaysInItsBoxAndRaisesTheLoss() {
        checkAttack(vit -> DeviceClassifier.onHost(CpuBackend.get(), vit));
    }

    @Test
    void refusesParameterGradientsAStaleForwardAndTraining() {
        try (Arena arena = Arena.ofConfined(); DeviceClassifier device = DeviceClassifier.onHost(CpuBackend.get(), model(arena))) {
            Tensor x = images(arena, 51), y = labels(arena);
            try (Tape t = new Tape(CpuBackend.get(), true)) {
                assertThrows(IllegalStateException.class, () -> device.logits(t, x, false), "a tape that trains the ViT's parameters");
            }
            try (Tape t = new Tape(CpuBackend.get(), true, false)) {
                Var input = t.input(x, true);
                Var first = device.logits(t, input), second = device.logits(t, input); // one batch size: the second forward replaces the first's activations
                Var loss = t.add(t.crossEntropy(first, y, 0f), t.crossEntropy(second, y, 0f));
                assertThrows(IllegalStateException.class, () -> t.backward(loss), "the first forward's gradient after a second forward");
            }
            try (VitStep<Tensor> step = VitStep.forInferenceOnHost(CpuBackend.get(), model(arena), 3)) {
                assertThrows(IllegalStateException.class, () -> step.step(x, y, 1e-3f), "a step made for inference");
            }
        }
    }

    @Test
    void refusesWhatTheForwardDoesNotCompute() {
        try (Arena arena = Arena.ofConfined()) {
            VisionTransformer patchAdapter = new VisionTransformer(arena, VitStepTest.SMALL, new SplittableRandom(3));
            Lora.inject(patchAdapter, arena, new Lora.Config(2, 4f, 0f, false, List.of("patch_embed"), List.of()), new SplittableRandom(4));
            assertThrows(IllegalArgumentException.class, () -> DeviceClassifier.onHost(CpuBackend.get(), patchAdapter), "an adapter on the patch embedding");
            VisionTransformer dora = new VisionTransformer(arena, VitStepTest.SMALL, new SplittableRandom(3));
            Lora.inject(dora, arena, new Lora.Config(2, 4f, 0f, false, List.of("qkv", "proj", "fc1", "fc2"), List.of()).withVariant(false, true),
                    new SplittableRandom(4));
            assertThrows(IllegalArgumentException.class, () -> DeviceClassifier.onHost(CpuBackend.get(), dora), "an unmerged DoRA adapter");
        }
    }

    private static float[][] logitsAndInputGradient(Classifier model, Tensor x, Tensor y) {
        try (Tape t = new Tape(CpuBackend.get(), true, false)) {
            Var input = t.input(x, true);
            Var logits = model.logits(t, input);
            t.backward(t.crossEntropy(logits, y, 0f));
            return new float[][] {logits.value().toFloatArray(), input.grad().toFloatArray()};
        }
    }

    private static float loss(Classifier model, Tensor x, Tensor y) {
        try (Tape t = new Tape(CpuBackend.get(), false)) {
            return t.crossEntropy(model.logits(t, x, false), y, 0f).value().getFloat(0);
        }
    }
}
