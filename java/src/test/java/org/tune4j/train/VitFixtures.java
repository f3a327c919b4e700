package org.tune4j.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Function;
import org.tune4j.autograd.Tape;
import org.tune4j.autograd.Var;
import org.tune4j.backend.CpuBackend;
import org.tune4j.nn.Lora;
import org.tune4j.nn.LoraLinear;
import org.tune4j.nn.VisionTransformer;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * A small ViT with odd sizes (5 tokens, heads of 8, batch 3) and nonzero lora_B, so every gradient is nonzero,
 * in each way the main job trains it (LoRA with LoRA+; LoRA with the head, as robust trains; full fine-tuning
 * with weight decay and label smoothing, as pretraining does; the head alone), with seeded images and labels:
 * what the tests that compare a backend's training with the CPU's share (CudaTapeTest).
 */
public final class VitFixtures {
    private VitFixtures() {}

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
    public record Kind(String name, Function<Arena, VisionTransformer> model, float weightDecay, float loraPlusRatio, float labelSmoothing) {}

    public static List<Kind> kinds() {
        return List.of(new Kind("lora", VitFixtures::model, 0.01f, 8f, 0f), new Kind("lora + head", arena -> {
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
    public static org.tune4j.data.ImageDataset firstTrainImages(int n) throws java.io.IOException {
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

}
