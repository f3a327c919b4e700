package org.tune4j.autograd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.tune4j.backend.CpuBackend;
import org.tune4j.data.TokenBatch;
import org.tune4j.nn.BertClassifier;
import org.tune4j.nn.BertConfig;
import org.tune4j.nn.BertModel;
import org.tune4j.nn.Lora;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * A step's batch as micro-batches ({@link MicroBatches}): the gradients are the whole batch's, and their bits depend on
 * the parts only, not on whether the parts ran at once (two threads) or in turn (one).
 */
class MicroBatchesTest {
    private static final int BATCH = 6;

    /**
     * A small BERT classifier with LoRA on query and value (lora_dropout as given), or with every parameter trained
     * ({@code lora} false: the embedding tables' gradients too, which a later part adds row by row).
     */
    private static BertClassifier model(Arena arena, float dropout, boolean lora) {
        var config = new BertConfig(50, 32, 4, 2, 64, 64, 2, 1e-12f, "gelu");
        var m = new BertClassifier(arena, new BertModel(arena, config, new SplittableRandom(2)), BertClassifier.Pooling.MEAN, 3, new SplittableRandom(3));
        m.train(true);
        if (!lora) return m;
        Lora.inject(m, arena, new Lora.Config(4, 8f, dropout, false, List.of("query", "value"), List.of("classifier")), new SplittableRandom(4));
        // B starts at zero in PEFT; nonzero here, so that every LoRA gradient is nonzero
        for (var e : m.namedParameters().entrySet()) {
            if (!e.getKey().endsWith("lora_B")) continue;
            Tensor b = e.getValue().value();
            for (long i = 0; i < b.numel(); i++) b.segment().setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, i, 0.01f * ((i * 7) % 11 - 5));
        }
        m.train(true);
        return m;
    }

    private static int[][] ids() {
        int[][] ids = new int[BATCH][];
        for (int b = 0; b < BATCH; b++) {
            ids[b] = new int[40 - 3 * b];
            for (int i = 0; i < ids[b].length; i++) ids[b][i] = 1 + (i * 7 + b * 3) % 49;
        }
        return ids;
    }

    /** The loss of sequences [from, to) of {@code ids}, labels b % 3, their inputs made in the part's tape. */
    private static MicroBatches.SliceLoss slices(BertClassifier m, int[][] ids) {
        return (t, from, to) -> {
            Tensor y = Tensor.zeros(t.arena(), DType.I32, to - from);
            for (int b = from; b < to; b++) y.setInt(b - from, b % 3);
            return t.crossEntropy(m.logits(t, TokenBatch.of(t.arena(), Arrays.copyOfRange(ids, from, to), null)), y, 0f);
        };
    }

    /** Every trainable parameter's gradient after one step of {@code parts} micro-batches on {@code threads} threads. */
    private static Map<String, float[]> gradients(int parts, int threads, float dropout, boolean lora) {
        int before = CpuBackend.threads();
        CpuBackend.setThreads(threads);
        try (Arena arena = Arena.ofShared(); MicroBatches mb = new MicroBatches(CpuBackend.get(), parts, new SplittableRandom(9))) {
            BertClassifier m = model(arena, dropout, lora);
            double loss = mb.step(BATCH, slices(m, ids()));
            assertTrue(Double.isFinite(loss) && loss > 0, "the batch's summed loss: " + loss);
            var out = new java.util.TreeMap<String, float[]>();
            for (var e : m.namedParameters().entrySet()) if (e.getValue().trainable()) out.put(e.getKey(), e.getValue().grad().toFloatArray());
            return out;
        } finally {
            CpuBackend.setThreads(before);
        }
    }

    @Test
    void partsThatRunAtOnceGiveTheBitsOfPartsInTurn() {
        for (boolean lora : new boolean[] {true, false})
            for (float dropout : new float[] {0f, 0.1f}) { // with dropout: each later part's masks from a generator of its own
                Map<String, float[]> inTurn = gradients(3, 1, dropout, lora), atOnce = gradients(3, 2, dropout, lora), threeAtOnce = gradients(3, 3, dropout, lora);
                assertEquals(inTurn.keySet(), atOnce.keySet());
                String what = (lora ? "LoRA" : "full") + ", dropout " + dropout;
                for (String name : inTurn.keySet()) {
                    assertArrayEquals(inTurn.get(name), atOnce.get(name), 0f, name + ", " + what + ": two threads");
                    assertArrayEquals(inTurn.get(name), threeAtOnce.get(name), 0f, name + ", " + what + ": three threads");
                }
            }
    }

    @Test
    void partsGiveTheWholeBatchsGradients() {
        for (boolean lora : new boolean[] {true, false}) {
            Map<String, float[]> whole = gradients(1, 1, 0f, lora), two = gradients(2, 2, 0f, lora), three = gradients(3, 1, 0f, lora);
            assertTrue(whole.size() > 4, "LoRA's A and B in 2 layers and the head, or every parameter: " + whole.keySet());
            if (!lora) assertTrue(whole.containsKey("bert.embeddings.word_embeddings.weight"), whole.keySet().toString());
            for (String name : whole.keySet()) {
                float[] w = whole.get(name);
                double scale = 0;
                for (float v : w) scale = Math.max(scale, Math.abs(v));
                assertTrue(scale > 0, name + " has a gradient");
                double tolerance = 1e-5 * Math.max(scale, 1e-3); // key's bias: zero but for rounding (a softmax does not see a constant added to its row)
                for (var parts : List.of(two, three)) {
                    float[] p = parts.get(name);
                    for (int i = 0; i < w.length; i++) assertEquals(w[i], p[i], tolerance, name + "[" + i + "]");
                }
            }
        }
    }

    @Test
    void partsInTurnHoldOnePartsMemory() {
        int before = CpuBackend.threads();
        CpuBackend.setThreads(1);
        try (Arena arena = Arena.ofShared(); MicroBatches whole = new MicroBatches(CpuBackend.get(), 1, new SplittableRandom(9));
                MicroBatches halves = new MicroBatches(CpuBackend.get(), 2, new SplittableRandom(9))) {
            BertClassifier m = model(arena, 0f, false);
            int[][] same = new int[BATCH][];
            Arrays.fill(same, ids()[0]); // equal halves
            whole.step(BATCH, slices(m, same));
            halves.step(BATCH, slices(m, same));
            assertTrue(halves.workspaceBytes() < 0.6 * whole.workspaceBytes(), halves.workspaceBytes() + " bytes for 2 parts in turn, " + whole.workspaceBytes() + " for 1");
            assertTrue(halves.stepBytes() < 0.6 * whole.stepBytes(), halves.stepBytes() + " against " + whole.stepBytes());
        } finally {
            CpuBackend.setThreads(before);
        }
    }

    @Test
    void partsAtOnceHoldOnePartsMemoryAThread() {
        int before = CpuBackend.threads();
        try (Arena arena = Arena.ofShared(); MicroBatches whole = new MicroBatches(CpuBackend.get(), 1, new SplittableRandom(9));
                MicroBatches quarters = new MicroBatches(CpuBackend.get(), 4, new SplittableRandom(9))) {
            BertClassifier m = model(arena, 0f, true);
            int[][] same = new int[4][];
            Arrays.fill(same, ids()[0]);
            CpuBackend.setThreads(1);
            whole.step(4, slices(m, same));
            CpuBackend.setThreads(2); // two lanes: parts 0 and 2 in one workspace, 1 and 3 in the other
            quarters.step(4, slices(m, same));
            assertTrue(quarters.workspaceBytes() < 0.65 * whole.workspaceBytes(), quarters.workspaceBytes() + " bytes for 4 parts on 2 threads, " + whole.workspaceBytes() + " for 1");
        } finally {
            CpuBackend.setThreads(before);
        }
    }

    @Test
    void aModelInAConfinedArenaIsNamedWhenPartsRunAtOnce() {
        int before = CpuBackend.threads();
        CpuBackend.setThreads(2);
        try (Arena arena = Arena.ofConfined(); MicroBatches mb = new MicroBatches(CpuBackend.get(), 2, new SplittableRandom(9))) {
            BertClassifier m = model(arena, 0f, true);
            var e = assertThrows(IllegalStateException.class, () -> mb.step(BATCH, slices(m, ids())));
            assertTrue(e.getMessage().contains("shared arena"), e.getMessage());
            CpuBackend.setThreads(1); // in turn, on the arena's own thread, the same model trains
            assertTrue(mb.step(BATCH, slices(m, ids())) > 0);
        } finally {
            CpuBackend.setThreads(before);
        }
    }

    @Test
    void aFailingPartFailsTheStep() {
        int before = CpuBackend.threads();
        for (int threads : new int[] {1, 2}) {
            CpuBackend.setThreads(threads);
            try (Arena arena = Arena.ofShared(); MicroBatches mb = new MicroBatches(CpuBackend.get(), 2, new SplittableRandom(9))) {
                BertClassifier m = model(arena, 0f, true);
                MicroBatches.SliceLoss ok = slices(m, ids());
                List<Integer> ran = new ArrayList<>();
                var e = assertThrows(IllegalArgumentException.class, () -> mb.step(BATCH, (t, from, to) -> {
                    synchronized (ran) {
                        ran.add(from);
                    }
                    if (from > 0) throw new IllegalArgumentException("part 1's batch is bad");
                    return ok.loss(t, from, to);
                }), "threads " + threads);
                assertEquals("part 1's batch is bad", e.getMessage());
                assertEquals(2, ran.size(), "both parts ran");
                assertThrows(IllegalArgumentException.class, () -> mb.step((t, k) -> ok.loss(t, k, k + 1), new double[3]), "three weights for two parts");
                assertThrows(IllegalArgumentException.class, () -> mb.step((t, k) -> ok.loss(t, k, k + 1), new double[0]), "no part");
                assertThrows(IllegalArgumentException.class, () -> mb.step(0, ok), "no example");
                // and the next step runs; a batch of one example runs as one part
                assertTrue(mb.step(BATCH, ok) > 0);
                List<int[]> bounds = new ArrayList<>();
                mb.step(1, (t, from, to) -> {
                    bounds.add(new int[] {from, to});
                    return ok.loss(t, from, to);
                });
                assertEquals(1, bounds.size());
                assertArrayEquals(new int[] {0, 1}, bounds.get(0));
            } finally {
                CpuBackend.setThreads(before);
            }
        }
        assertThrows(IllegalArgumentException.class, () -> new MicroBatches(CpuBackend.get(), 0, new SplittableRandom(1)));
        assertThrows(IllegalArgumentException.class, () -> CpuBackend.setCallerThreads(-1));
        assertThrows(IllegalArgumentException.class, () -> CpuBackend.setCallerThreads(CpuBackend.MAX_THREADS + 1));
    }
}
