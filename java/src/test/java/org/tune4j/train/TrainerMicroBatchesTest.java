package org.tune4j.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.tune4j.backend.CpuBackend;
import org.tune4j.data.FashionMnist;
import org.tune4j.data.ImageDataset;
import org.tune4j.nn.Lora;
import org.tune4j.nn.VisionTransformer;
import org.tune4j.optim.AdamW;
import org.tune4j.optim.LrSchedule;

/** The ViT's training loop with each batch as micro-batches ({@link Trainer.Options#withMicroBatches}). */
class TrainerMicroBatchesTest {
    private static final VisionTransformer.Config TINY = new VisionTransformer.Config(28, 7, 32, 2, 2, 64, 10);

    /** The trainable weights and the losses after two epochs of LoRA (dropout 0.1) on 100 images, batches of 32 (a last of 4). */
    private static Map<String, float[]> trained(int parts, int threads, List<Double> losses) throws IOException {
        int[] idx = new int[100];
        Arrays.setAll(idx, i -> i);
        ImageDataset data = FashionMnist.embedded().train().subset(idx);
        int before = CpuBackend.threads();
        CpuBackend.setThreads(threads);
        try (Arena arena = Arena.ofShared()) {
            VisionTransformer vit = new VisionTransformer(arena, TINY, new SplittableRandom(3));
            Lora.inject(vit, arena, new Lora.Config(4, 8f, 0.1f, false, List.of("qkv", "fc2"), List.of("head")), new SplittableRandom(1));
            AdamW opt = AdamW.of(arena, vit.namedParameters(), 0.01f, 1f);
            Trainer.History h = Trainer.fit(CpuBackend.get(), vit, opt, LrSchedule.warmupCosine(3e-3f, 2, 8, 1e-5f), data, null,
                    new Trainer.Options(2, 32, 5, 0.1f, 1.0).withMicroBatches(parts), new Trainer.Listener() {});
            losses.addAll(h.trainLoss());
            assertTrue(h.peakStepBytes() > 0, "the parts' step memory is reported");
            Map<String, float[]> out = new TreeMap<>();
            vit.namedParameters().forEach((name, p) -> {
                if (p.trainable()) out.put(name, p.value().toFloatArray());
            });
            return out;
        } finally {
            CpuBackend.setThreads(before);
        }
    }

    @Test
    void partsTrainTheSameBitsOnOneThreadAndOnTwo() throws IOException {
        List<Double> inTurn = new java.util.ArrayList<>(), atOnce = new java.util.ArrayList<>();
        Map<String, float[]> one = trained(3, 1, inTurn), two = trained(3, 2, atOnce);
        assertEquals(one.keySet(), two.keySet());
        for (String name : one.keySet()) assertArrayEquals(one.get(name), two.get(name), 0f, name);
        assertEquals(inTurn, atOnce);
    }

    @Test
    void partsTrainAsTheWholeBatchDoes() throws IOException {
        List<Double> whole = new java.util.ArrayList<>(), parts = new java.util.ArrayList<>();
        trained(1, 1, whole);
        trained(3, 2, parts);
        // other dropout masks in the later parts: the same losses within 0.5%, not to the bit
        for (int e = 0; e < whole.size(); e++) assertEquals(whole.get(e), parts.get(e), 0.005 * whole.get(e), "epoch " + e + ": " + whole + " against " + parts);
        assertTrue(parts.getLast() < parts.getFirst(), "the loss fell: " + parts);
    }

    @Test
    void microBatchesOutOfRangeAreRefused() {
        var o = new Trainer.Options(1, 8, 1, 0f, 1.0);
        assertEquals(1, o.microBatches());
        assertThrows(IllegalArgumentException.class, () -> o.withMicroBatches(0));
        assertThrows(IllegalArgumentException.class, () -> o.withMicroBatches(9));
        assertEquals(8, o.withMicroBatches(8).microBatches());
    }
}
