package org.tune4j.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tune4j.autograd.Parameter;
import org.tune4j.autograd.Tape;
import org.tune4j.backend.CpuBackend;
import org.tune4j.data.DomainShift;
import org.tune4j.data.FashionMnist;
import org.tune4j.data.ImageDataset;
import org.tune4j.io.Checkpoint;
import org.tune4j.nn.Lora;
import org.tune4j.nn.LoraLinear;
import org.tune4j.nn.VisionTransformer;
import org.tune4j.optim.AdamW;
import org.tune4j.optim.EarlyStopping;
import org.tune4j.optim.LrSchedule;
import org.tune4j.optim.ReduceLrOnPlateau;
import org.tune4j.tensor.Tensor;

/** LoRA injection, the optimizer and schedules, a real training run, determinism and checkpoints. */
class TrainingTest {
    private static final VisionTransformer.Config TINY = new VisionTransformer.Config(28, 7, 32, 2, 2, 64, 10);

    private static ImageDataset small(int n) throws IOException {
        int[] idx = new int[n];
        Arrays.setAll(idx, i -> i);
        return FashionMnist.embedded().train().subset(idx);
    }

    private static Trainer.History train(Arena arena, VisionTransformer vit, ImageDataset data, int epochs) {
        AdamW opt = AdamW.of(arena, vit.namedParameters(), 0.01f, 1f);
        long steps = (long) epochs * ((data.size() + 31) / 32);
        return Trainer.fit(CpuBackend.get(), vit, opt, LrSchedule.warmupCosine(3e-3f, 2, steps, 1e-5f), data, null,
                new Trainer.Options(epochs, 32, 5, 0f, 1.0), new Trainer.Listener() {});
    }

    @Test
    void trainingLowersTheLossAndIsDeterministic() throws IOException {
        ImageDataset data = small(256);
        float[][] weights = new float[2][];
        for (int run = 0; run < 2; run++) {
            try (Arena arena = Arena.ofShared()) {
                VisionTransformer vit = new VisionTransformer(arena, TINY, new SplittableRandom(3));
                Trainer.History h = train(arena, vit, data, 4);
                assertTrue(h.trainLoss().getLast() < h.trainLoss().getFirst() * 0.9, "loss fell: " + h.trainLoss());
                weights[run] = vit.namedParameters().get("head.weight").value().toFloatArray();
            }
        }
        assertArrayEquals(weights[0], weights[1], "same seed, same weights, bit for bit");
    }

    @Test
    void loraInjectionFreezesTheBaseAndStartsAsIt() throws IOException {
        ImageDataset data = small(64);
        try (Arena arena = Arena.ofShared()) {
            VisionTransformer vit = new VisionTransformer(arena, TINY, new SplittableRandom(4));
            float[] before = logits(vit, data);
            Lora.Config config = new Lora.Config(4, 8f, 0f, false, List.of("qkv", "fc2"), List.of("head"));
            Map<String, LoraLinear> adapters = Lora.inject(vit, arena, config, new SplittableRandom(1));
            assertEquals(List.of("blocks.0.attn.qkv", "blocks.0.mlp.fc2", "blocks.1.attn.qkv", "blocks.1.mlp.fc2"), List.copyOf(adapters.keySet()));
            assertArrayEquals(before, logits(vit, data), 1e-5f, "B = 0: the adapted model starts as the base");
            Map<String, Parameter> named = vit.namedParameters();
            assertTrue(named.containsKey("blocks.0.attn.qkv.lora_A") && named.containsKey("blocks.0.attn.qkv.base.weight"), named.keySet().toString());
            long trainable = vit.parameterCount(true), lora = adapters.values().stream().mapToLong(l -> l.loraA().numel() + l.loraB().numel()).sum();
            assertEquals(lora + named.get("head.weight").numel() + named.get("head.bias").numel(), trainable);
            assertTrue(!named.get("blocks.0.attn.qkv.base.weight").trainable());

            train(arena, vit, data, 2);
            float[] adapted = logits(vit, data);
            assertNotEquals(Arrays.toString(before), Arrays.toString(adapted));
            LoraLinear l = adapters.get("blocks.1.attn.qkv");
            float[] w = l.base().weight().value().toFloatArray();
            adapters.values().forEach(a -> a.merge(CpuBackend.get()));
            assertArrayEquals(adapted, logits(vit, data), 1e-4f, "merged: the same function at base speed");
            adapters.values().forEach(a -> a.unmerge(CpuBackend.get()));
            assertArrayEquals(w, l.base().weight().value().toFloatArray(), 1e-6f, "unmerge restores W");
            assertThrows(IllegalArgumentException.class, () -> Lora.inject(vit, arena, new Lora.Config(2, 2, 0, false, List.of("nothing"), List.of()), new SplittableRandom(0)));
        }
    }

    @Test
    void loraInjectionDrawsItsInitInModuleOrder() {
        // two targets under one parent (qkv and proj in attn): the adapters must be made in registration
        // order, every run, or the same seed gives different A's (Map.copyOf's order is salted per JVM)
        try (Arena arena = Arena.ofShared()) {
            VisionTransformer vit = new VisionTransformer(arena, TINY, new SplittableRandom(4));
            Map<String, LoraLinear> adapters = Lora.inject(vit, arena, new Lora.Config(2, 4f, 0f, false, List.of("proj", "qkv"), List.of()),
                    new SplittableRandom(9));
            assertEquals(List.of("blocks.0.attn.qkv", "blocks.0.attn.proj", "blocks.1.attn.qkv", "blocks.1.attn.proj"), List.copyOf(adapters.keySet()));
            SplittableRandom replay = new SplittableRandom(9);
            for (LoraLinear l : adapters.values()) {
                LoraLinear again = new LoraLinear(arena, l.base(), 2, 4f, 0f, false, replay);
                assertArrayEquals(again.loraA().value().toFloatArray(), l.loraA().value().toFloatArray(), 0f, "A drawn in module order");
            }
        }
    }

    private static float[] logits(VisionTransformer vit, ImageDataset data) {
        vit.train(false);
        try (Arena a = Arena.ofConfined(); Tape t = new Tape(CpuBackend.get(), false)) {
            Tensor x = Tensor.zeros(a, org.tune4j.tensor.DType.F32, data.size(), 784), y = Tensor.zeros(a, org.tune4j.tensor.DType.I32, data.size());
            new org.tune4j.data.Batcher(data, data.size(), 0, false).fill(new org.tune4j.data.Batcher(data, data.size(), 0, false).order(0), 0, x, y);
            return vit.logits(t, x, false).value().toFloatArray();
        } finally {
            vit.train(true);
        }
    }

    @Test
    void checkpointsRoundTripWithOptimizerState(@TempDir Path dir) throws IOException {
        ImageDataset data = small(64);
        Path file = dir.resolve("ckpt.safetensors");
        float[] head;
        float[] moment;
        try (Arena arena = Arena.ofShared()) {
            VisionTransformer vit = new VisionTransformer(arena, TINY, new SplittableRandom(6));
            AdamW opt = AdamW.of(arena, vit.namedParameters(), 0.01f, 1f);
            Trainer.fit(CpuBackend.get(), vit, opt, step -> 1e-3f, data, null, new Trainer.Options(1, 32, 1, 0f, 0), new Trainer.Listener() {});
            Checkpoint.save(file, vit.namedParameters(), opt, Map.of("note", "test"));
            head = vit.namedParameters().get("head.weight").value().toFloatArray();
            moment = opt.state().get("head.weight")[0].toFloatArray();
        }
        try (Arena arena = Arena.ofShared()) {
            VisionTransformer vit = new VisionTransformer(arena, TINY, new SplittableRandom(99));
            AdamW opt = AdamW.of(arena, vit.namedParameters(), 0.01f, 1f);
            Map<String, String> meta = Checkpoint.load(file, vit.namedParameters(), opt);
            assertEquals("test", meta.get("note"));
            assertArrayEquals(head, vit.namedParameters().get("head.weight").value().toFloatArray());
            assertArrayEquals(moment, opt.state().get("head.weight")[0].toFloatArray());
            assertEquals(2, opt.steps());
            VisionTransformer wrong = new VisionTransformer(arena, new VisionTransformer.Config(28, 7, 16, 1, 2, 32, 10), new SplittableRandom(0));
            IOException e = assertThrows(IOException.class, () -> Checkpoint.load(file, wrong.namedParameters(), null));
            assertTrue(e.getMessage().contains("expects"), e.getMessage());
        }
    }

    @Test
    void schedulesAndStopping() {
        LrSchedule s = LrSchedule.warmupCosine(1f, 10, 110, 0f);
        assertEquals(0.1f, s.lr(0), 1e-6);
        assertEquals(1f, s.lr(9), 1e-6);
        assertEquals(0.5f, s.lr(60), 1e-6);
        assertEquals(0f, s.lr(110), 1e-6);
        assertEquals(0.5f, LrSchedule.linear(1f, 10).lr(5), 1e-6);
        ReduceLrOnPlateau plateau = new ReduceLrOnPlateau(1f, 0.5f, 1, 0f, 0.1f);
        plateau.observe(0.5);
        plateau.observe(0.5);
        assertEquals(0.5f, plateau.observe(0.4));
        EarlyStopping stop = new EarlyStopping(2, 0);
        assertTrue(!stop.observe(0.5) && !stop.observe(0.4) && stop.observe(0.45));
    }

    @Test
    void domainShiftIsSeededAndChangesTheImages() throws IOException {
        ImageDataset data = small(20);
        ImageDataset a = DomainShift.apply(data, 1), b = DomainShift.apply(data, 1), c = DomainShift.apply(data, 2);
        int same = 0, changed = 0;
        for (int i = 0; i < data.size(); i++)
            for (int p = 0; p < 784; p++) {
                if (a.pixel(i, p) == b.pixel(i, p)) same++;
                if (a.pixel(i, p) != data.pixel(i, p)) changed++;
            }
        assertEquals(20 * 784, same, "same seed, same images");
        assertTrue(changed > 20 * 784 / 2, "most pixels change");
        assertNotEquals(a.pixel(0, 400), c.pixel(0, 400) + 0.5);
        assertEquals(data.label(3), a.label(3));
    }

    @Test
    void sgdWithNesterovTrainsAnMlp() throws IOException {
        ImageDataset data = small(256);
        try (Arena arena = Arena.ofShared()) {
            org.tune4j.nn.MlpClassifier mlp = new org.tune4j.nn.MlpClassifier(arena, 784, 64, 10, new SplittableRandom(2));
            org.tune4j.optim.Sgd sgd = new org.tune4j.optim.Sgd(arena, mlp.namedParameters(), 0.9f, 0f, 1e-4f, true);
            org.tune4j.data.Batcher batcher = new org.tune4j.data.Batcher(data, 32, 1, true);
            double first = 0, last = 0;
            for (int epoch = 0; epoch < 5; epoch++) {
                double sum = 0;
                int[] order = batcher.order(epoch);
                try (Arena buf = Arena.ofConfined()) {
                    Tensor x = Tensor.zeros(buf, org.tune4j.tensor.DType.F32, 32, 784), y = Tensor.zeros(buf, org.tune4j.tensor.DType.I32, 32);
                    for (int b = 0; b < batcher.batches(); b++) {
                        batcher.fill(order, b, x, y);
                        try (Tape t = new Tape(CpuBackend.get(), true)) {
                            var loss = t.crossEntropy(mlp.logits(t, x, false), y, 0f);
                            sum += loss.value().getFloat(0);
                            t.backward(loss);
                        }
                        sgd.step(CpuBackend.get(), 0.05f);
                    }
                }
                if (epoch == 0) first = sum;
                last = sum;
            }
            assertTrue(last < 0.6 * first, "loss " + first + " -> " + last);
            assertThrows(IllegalArgumentException.class, () -> new org.tune4j.optim.Sgd(arena, mlp.namedParameters(), 0f, 0f, 0f, true));
        }
    }
}
