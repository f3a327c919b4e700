package org.tune4j.serve;

import org.tune4j.autograd.SequenceOps;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tune4j.autograd.Tape;
import org.tune4j.backend.CpuBackend;
import org.tune4j.backend.ReferenceBackend;
import org.tune4j.data.TokenBatch;
import org.tune4j.io.BertAdapter;
import org.tune4j.io.BertCheckpoint;
import org.tune4j.nn.BertClassifier;
import org.tune4j.nn.BertConfig;
import org.tune4j.nn.BertModel;
import org.tune4j.nn.Lora;
import org.tune4j.nn.LoraLinear;
import org.tune4j.tensor.Tensor;

/**
 * Many adapters over one encoder: a mixed batch gives each sequence what its adapter alone gives (each adapter
 * loaded on its own as a BertClassifier with its LoRA unmerged), and the registry checks, budgets, evicts and
 * keeps leased adapters alive.
 */
class AdapterServingTest {
    private static final BertConfig SMALL = new BertConfig(40, 16, 2, 2, 24, 16, 2, 1e-12f, "gelu");

    /** An adapter folder: rank r on targets, random non-zero factors and head. */
    private static Path adapter(Path dir, Path base, String name, int r, boolean rsLora, List<String> targets, BertClassifier.Pooling pooling, int classes, long seed)
            throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rng = new SplittableRandom(seed);
            BertClassifier c = new BertClassifier(arena, BertCheckpoint.load(arena, base), pooling, classes, rng);
            Lora.Config config = new Lora.Config(r, 2f * r, 0f, rsLora, targets, List.of());
            Lora.inject(c, arena, config, rng);
            c.namedModules().values().forEach(m -> {
                if (m instanceof LoraLinear l) for (long i = 0; i < l.loraB().value().numel(); i++) l.loraB().value().setFloat(i, (float) (rng.nextDouble() - 0.5));
            });
            List<String> names = new ArrayList<>();
            for (int k = 0; k < classes; k++) names.add(name + "-class" + k);
            Path out = dir.resolve(name);
            BertAdapter.save(out, c, config, "base", names);
            return out;
        }
    }

    private static Path base(Path dir) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            Path base = dir.resolve("base");
            BertCheckpoint.save(base, new BertModel(arena, SMALL, new SplittableRandom(7)), null);
            return base;
        }
    }

    private static TokenBatch batch(Arena arena, int n, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        int[][] ids = new int[n][];
        for (int b = 0; b < n; b++) {
            ids[b] = new int[2 + rng.nextInt(12)];
            for (int p = 0; p < ids[b].length; p++) ids[b][p] = 1 + rng.nextInt(SMALL.vocabSize() - 1);
        }
        return TokenBatch.of(arena, ids, null);
    }

    @Test
    void aMixedBatchGivesEachSequenceWhatItsAdapterAloneGives(@TempDir Path dir) throws IOException {
        Path base = base(dir);
        Path[] dirs = {
            adapter(dir, base, "a0", 2, false, List.of("query", "value"), BertClassifier.Pooling.MEAN, 2, 1),
            adapter(dir, base, "a1", 5, false, List.of("dense"), BertClassifier.Pooling.CLS, 3, 2),
            adapter(dir, base, "a2", 3, true, List.of("query", "key", "value", "dense"), BertClassifier.Pooling.MEAN, 2, 3),
        };
        for (var backend : List.of(CpuBackend.get(), new ReferenceBackend())) {
            for (boolean packed : new boolean[] {false, true}) { // the base as loaded, and packed for the GEMM as tune4j serve runs it
                try (Arena arena = Arena.ofShared()) {
                    BertModel served = BertCheckpoint.load(arena, base);
                    if (packed) assertEquals(12, served.packProjections(arena));
                    try (AdapterRegistry registry = new AdapterRegistry(served, 1L << 30); AdapterPredictor p = new AdapterPredictor(backend, served, null, registry, 1)) {
                        for (int i = 0; i < dirs.length; i++) registry.load("a" + i, dirs[i]);
                        TokenBatch in = batch(arena, 7, 11);
                        List<String> ids = Arrays.asList("a1", "a0", "a0", "a2", "a1", "a0", "a2");
                        List<AdapterPredictor.Result> mixed = p.run(arena, in, ids, true);
                        List<String> embedIds = Arrays.asList(null, "a0", "a1", null, "a2", "a2", null);
                        List<AdapterPredictor.Result> embedded = p.run(arena, in, embedIds, false);
                        for (int i = 0; i < dirs.length; i++) {
                            BertAdapter.Loaded alone = BertAdapter.load(arena, base, dirs[i]);
                            try (Tape t = new Tape(backend, false)) {
                                Tensor logits = alone.model().logits(t, in).value(), pooled = alone.model().pooled(t, in).value();
                                for (int b = 0; b < in.batch(); b++) {
                                    if (!ids.get(b).equals("a" + i)) continue;
                                    float[] expected = softmaxRow(logits, b);
                                    assertEquals(alone.classes(), mixed.get(b).classes());
                                    for (int k = 0; k < expected.length; k++) assertEquals(expected[k], mixed.get(b).probabilities()[k], 2e-5, backend.name() + " sequence " + b + " class " + k);
                                    for (int j = 0; j < pooled.dim(1); j++) assertEquals(pooled.getFloat(b, j), mixed.get(b).embedding()[j], 2e-5, "embedding of " + b);
                                }
                            }
                        }
                        // a sequence with no adapter gets the base encoder's mean-pooled state
                        try (Tape t = new Tape(backend, false)) {
                            Tensor mean = SequenceOps.meanPool(t, served.forward(t, in), in.lengths(), in.batch()).value();
                            for (int b : new int[] {0, 3, 6}) {
                                assertNull(embedded.get(b).probabilities(), "no adapter, no head");
                                for (int j = 0; j < mean.dim(1); j++) assertEquals(mean.getFloat(b, j), embedded.get(b).embedding()[j], 2e-5);
                            }
                        }
                        assertEquals(mixed.get(1).embedding().length, SMALL.hidden());
                        // the adapters change what the encoder gives (the check above is not base against base)
                        double moved;
                        try (Tape t = new Tape(backend, false)) {
                            Tensor mean = SequenceOps.meanPool(t, served.forward(t, in), in.lengths(), in.batch()).value();
                            moved = 0;
                            for (int j = 0; j < SMALL.hidden(); j++) moved += Math.abs(mean.getFloat(1, j) - mixed.get(1).embedding()[j]);
                        }
                        assertTrue(moved > 1e-3, "adapter a0 moved sequence 1's embedding by " + moved);
                    }
                }
            }
        }
    }

    @Test
    void overAnInt8BaseAMixedBatchGivesWhatEachAdapterAloneGivesOnThatBase(@TempDir Path dir) throws IOException {
        Path base = base(dir);
        Path d0 = adapter(dir, base, "a0", 2, false, List.of("query", "value"), BertClassifier.Pooling.MEAN, 2, 1);
        Path d1 = adapter(dir, base, "a1", 4, false, List.of("dense"), BertClassifier.Pooling.MEAN, 2, 2);
        try (Arena arena = Arena.ofShared()) {
            BertModel f32 = BertCheckpoint.load(arena, base), int8 = BertCheckpoint.load(arena, base);
            double error = int8.compressProjections(arena, CpuBackend.get(), org.tune4j.nn.CompressedLinear.Format.INT8);
            assertTrue(error > 0 && error < 0.02, "int8 weight error " + error);
            try (AdapterRegistry r8 = new AdapterRegistry(int8, 1L << 30); AdapterRegistry r32 = new AdapterRegistry(f32, 1L << 30);
                    AdapterPredictor p8 = new AdapterPredictor(CpuBackend.get(), int8, null, r8, 1); AdapterPredictor p32 = new AdapterPredictor(CpuBackend.get(), f32, null, r32, 1)) {
                for (AdapterRegistry r : List.of(r8, r32)) {
                    r.load("a0", d0);
                    r.load("a1", d1);
                }
                TokenBatch in = batch(arena, 4, 5);
                List<String> ids = Arrays.asList("a1", "a0", null, "a0");
                List<AdapterPredictor.Result> mixed = p8.run(arena, in, ids, false), full = p32.run(arena, in, ids, false);
                for (int b = 0; b < in.batch(); b++) {
                    // each sequence alone, on the same int8 base: the same numbers as in the mixed batch
                    int[][] one = {Arrays.copyOf(ids(in, b), in.lengths().getInt(b))};
                    AdapterPredictor.Result alone = p8.run(arena, TokenBatch.of(arena, one, null), Arrays.asList(ids.get(b)), false).getFirst();
                    double diff = 0, off = 0;
                    for (int j = 0; j < SMALL.hidden(); j++) {
                        diff = Math.max(diff, Math.abs(alone.embedding()[j] - mixed.get(b).embedding()[j]));
                        off = Math.max(off, Math.abs(full.get(b).embedding()[j] - mixed.get(b).embedding()[j]));
                    }
                    assertTrue(diff < 2e-5, "sequence " + b + ": mixed against alone on the int8 base, " + diff);
                    assertTrue(off < 0.05, "sequence " + b + ": int8 base against f32, " + off);
                }
            }
        }
    }

    private static int[] ids(TokenBatch in, int b) {
        int[] out = new int[in.seq()];
        for (int t = 0; t < in.seq(); t++) out[t] = in.ids().getInt((long) b * in.seq() + t);
        return out;
    }

    private static float[] softmaxRow(Tensor logits, int b) {
        float[] out = new float[(int) logits.dim(1)];
        double max = Double.NEGATIVE_INFINITY, sum = 0;
        for (int k = 0; k < out.length; k++) max = Math.max(max, logits.getFloat(b, k));
        for (int k = 0; k < out.length; k++) sum += Math.exp(logits.getFloat(b, k) - max);
        for (int k = 0; k < out.length; k++) out[k] = (float) (Math.exp(logits.getFloat(b, k) - max) / sum);
        return out;
    }

    /** The checks of one test on the small encoder and three adapters of it; {@code one}: what one adapter counts against a budget. */
    private interface RegistryCheck {
        void run(BertModel served, Path d0, Path d1, Path d2, long one) throws IOException;
    }

    private static void withThreeAdapters(Path dir, RegistryCheck check) throws IOException {
        Path base = base(dir);
        List<Path> three = new ArrayList<>();
        for (int i = 0; i < 3; i++) three.add(adapter(dir, base, "a" + i, 4, false, List.of("query", "value"), BertClassifier.Pooling.MEAN, 2, i + 1));
        try (Arena arena = Arena.ofShared()) {
            BertModel served = BertCheckpoint.load(arena, base);
            long one;
            try (AdapterRegistry probe = new AdapterRegistry(served, 1L << 30)) {
                one = probe.load("x", three.get(0)).bytes();
            }
            check.run(served, three.get(0), three.get(1), three.get(2), one);
        }
    }

    @Test
    void theRegistryBudgetsEvictsAndKeepsLeasedAdaptersAlive(@TempDir Path dir) throws IOException {
        withThreeAdapters(dir, (served, d0, d1, d2, one) -> {
            try (AdapterRegistry registry = new AdapterRegistry(served, 2 * one); org.tune4j.LogCapture log = new org.tune4j.LogCapture(AdapterRegistry.class)) {
                registry.load("a0", d0);
                registry.load("a1", d1);
                assertEquals(2 * one, registry.bytes());
                registry.acquire(List.of("a0")).close(); // a0 used last: a1 is the least recently used
                registry.load("a2", d2);
                assertEquals(List.of("a0", "a2"), registry.ids().stream().sorted().toList());
                assertEquals(1, registry.evictions());
                assertEquals(List.of("adapter a1 evicted, the least recently used, to make room for a2 (" + one + " bytes) within the budget of " + 2 * one + " bytes"),
                        log.at(ch.qos.logback.classic.Level.INFO), "an eviction is logged (INFO), naming both adapters");
                assertEquals(3, log.at(ch.qos.logback.classic.Level.DEBUG).size(), "each load (DEBUG)");

                AdapterRegistry.Lease lease = registry.acquire(List.of("a2"));
                Tensor a = lease.adapters().get(0).factors().values().iterator().next().a();
                assertTrue(registry.unload("a2"));
                assertFalse(registry.contains("a2"));
                assertTrue(a.isAlive(), "a leased adapter stays in memory after it is unloaded");
                lease.close();
                assertFalse(a.isAlive(), "and is freed when the last lease closes");

                var unknown = assertThrows(AdapterRegistry.UnknownAdapterException.class, () -> registry.acquire(List.of("a0", "nope")));
                assertEquals("no adapter 'nope' is loaded", unknown.getMessage());
                assertThrows(IllegalArgumentException.class, () -> registry.load("bad id!", d0));
            }
            try (AdapterRegistry small = new AdapterRegistry(served, one - 1)) {
                IOException e = assertThrows(IOException.class, () -> small.load("a0", d0));
                assertTrue(e.getMessage().contains("more than the whole budget"), e.getMessage());
                assertEquals(0, small.size());
            }
        });
    }

    /** Every factor of the adapter in {@code dir}, as the file holds it (read on its own, no pool). */
    private static java.util.Map<String, float[]> fileFactors(Path dir) throws IOException {
        java.util.Map<String, float[]> out = new java.util.TreeMap<>();
        try (org.tune4j.io.PeftAdapter.Loaded l = org.tune4j.io.PeftAdapter.load(dir)) {
            l.modules().forEach((m, f) -> {
                out.put(m + ".A", f.a().toFloatArray());
                out.put(m + ".B", f.b().toFloatArray());
            });
        }
        return out;
    }

    private static java.util.Map<String, float[]> residentFactors(AdapterRegistry.Adapter a) {
        java.util.Map<String, float[]> out = new java.util.TreeMap<>();
        a.factors().forEach((m, f) -> {
            out.put(m + ".A", f.a().toFloatArray());
            out.put(m + ".B", f.b().toFloatArray());
        });
        return out;
    }

    /** Whether any factor of {@code x} shares a byte with any factor of {@code y}. */
    private static boolean overlap(AdapterRegistry.Adapter x, AdapterRegistry.Adapter y) {
        List<long[]> rx = new ArrayList<>(), ry = new ArrayList<>();
        for (var f : x.factors().values()) for (Tensor t : List.of(f.a(), f.b())) rx.add(new long[] {t.segment().address(), t.segment().address() + t.segment().byteSize()});
        for (var f : y.factors().values()) for (Tensor t : List.of(f.a(), f.b())) ry.add(new long[] {t.segment().address(), t.segment().address() + t.segment().byteSize()});
        for (long[] a : rx) for (long[] b : ry) if (a[0] < b[1] && b[0] < a[1]) return true;
        return false;
    }

    @Test
    void aLoadReusesTheMemoryOfAnAdapterFreedBeforeItAndNeverOfOneStillLeased(@TempDir Path dir) throws IOException {
        withThreeAdapters(dir, (served, d0, d1, d2, one) -> {
            try (AdapterRegistry registry = new AdapterRegistry(served, one)) { // room for one: each load evicts the last
                registry.load("a0", d0);
                AdapterRegistry.Lease lease = registry.acquire(List.of("a0"));
                AdapterRegistry.Adapter leased = lease.adapters().get(0);
                Tensor leasedA = leased.factors().values().iterator().next().a();
                float[] before = leasedA.toFloatArray();
                AdapterRegistry.Adapter a1 = registry.load("a1", d1); // evicts a0, which a batch still holds
                assertFalse(overlap(leased, a1), "a leased adapter's memory is not handed to the next load");
                assertArrayEquals(before, leasedA.toFloatArray(), "the leased adapter's values stay as they were");
                lease.close();
                assertFalse(leasedA.isAlive(), "a freed adapter's tensors are dead, though its memory is kept for the next loads");
                for (int round = 0; round < 3; round++) { // a2 and a1 by turns, each into memory an evicted one left or made ahead
                    Path d = round % 2 == 0 ? d2 : d1;
                    AdapterRegistry.Adapter a = registry.load(round % 2 == 0 ? "a2" : "a1", d);
                    java.util.Map<String, float[]> want = fileFactors(d), got = residentFactors(a);
                    assertEquals(want.keySet(), got.keySet());
                    want.forEach((k, v) -> assertArrayEquals(v, got.get(k), k + " as the file holds it, nothing of the adapter before"));
                }
                long[] counts = registry.memoryReuse();
                assertEquals(5, counts[0] + counts[1] + counts[2], "one allocation a load");
                assertEquals(0, counts[1], "no reserve, none carved from it");
                assertTrue(counts[0] >= 2, "the loads after the first evictions wrote into memory already touched: " + java.util.Arrays.toString(counts));
            }
        });
    }

    @Test
    void loadsTakeTheReserveUntilItIsSpentAndItOutlivesTheRegistryWhileALeaseHoldsPartOfIt(@TempDir Path dir) throws IOException {
        withThreeAdapters(dir, (served, d0, d1, d2, one) -> {
            long block;
            try (AdapterRegistry probe = new AdapterRegistry(served, 1L << 30, org.tune4j.tensor.Memory.HOST, 1L << 20)) {
                probe.load("x", d0);
                block = (1L << 20) - probe.reserveLeft(); // one load's blocks, whole pages
            }
            assertThrows(IllegalArgumentException.class, () -> new AdapterRegistry(served, one, org.tune4j.tensor.Memory.HOST, one + 1), "a reserve beyond the budget");
            AdapterRegistry.Lease lease;
            Tensor leasedA;
            float[] before;
            try (AdapterRegistry registry = new AdapterRegistry(served, 1L << 30, org.tune4j.tensor.Memory.HOST, 2 * block)) {
                registry.load("a0", d0);
                registry.load("a1", d1);
                assertEquals(0, registry.reserveLeft(), "two loads spend a reserve of two");
                AdapterRegistry.Adapter a2 = registry.load("a2", d2);
                assertArrayEquals(new long[] {0, 2, 1}, registry.memoryReuse(), "two from the reserve, then new memory");
                java.util.Map<String, float[]> want = fileFactors(d2), got = residentFactors(a2);
                want.forEach((k, v) -> assertArrayEquals(v, got.get(k), k));
                assertTrue(registry.unload("a0"));
                AdapterRegistry.Adapter again = registry.load("a0", d0); // into the reserve's block a0 left
                assertArrayEquals(new long[] {1, 2, 1}, registry.memoryReuse());
                fileFactors(d0).forEach((k, v) -> assertArrayEquals(v, residentFactors(again).get(k), k + ": the reused block holds the file, nothing of before"));
                lease = registry.acquire(List.of("a1"));
                leasedA = lease.adapters().get(0).factors().values().iterator().next().a();
                before = leasedA.toFloatArray();
            }
            assertArrayEquals(before, leasedA.toFloatArray(), "the registry closed, a batch's adapter in the reserve is still there");
            lease.close();
            assertFalse(leasedA.isAlive(), "freed with its lease, and the reserve with it");
        });
    }

    @Test
    void anAdapterThatDoesNotFitTheEncoderIsRefusedAndChangesNothing(@TempDir Path dir) throws IOException {
        Path base = base(dir);
        Path other = dir.resolve("other");
        try (Arena arena = Arena.ofConfined()) {
            BertCheckpoint.save(other, new BertModel(arena, new BertConfig(40, 24, 2, 2, 24, 16, 2, 1e-12f, "gelu"), new SplittableRandom(1)), null);
        }
        Path wide = adapter(dir, other, "wide", 2, false, List.of("query"), BertClassifier.Pooling.MEAN, 2, 1);
        Path dora;
        try (Arena arena = Arena.ofConfined()) {
            BertClassifier c = new BertClassifier(arena, BertCheckpoint.load(arena, base), BertClassifier.Pooling.MEAN, 2, new SplittableRandom(1));
            Lora.Config config = new Lora.Config(2, 4f, 0f, false, List.of("query"), List.of()).withVariant(false, true);
            Lora.inject(c, arena, config, new SplittableRandom(1));
            dora = dir.resolve("dora");
            BertAdapter.save(dora, c, config, "base", List.of("x", "y"));
        }
        Path good = adapter(dir, base, "good", 2, false, List.of("query"), BertClassifier.Pooling.MEAN, 2, 1);
        try (Arena arena = Arena.ofShared()) {
            BertModel served = BertCheckpoint.load(arena, base);
            try (AdapterRegistry registry = new AdapterRegistry(served, 1L << 30)) {
                registry.load("good", good);
                IOException e = assertThrows(IOException.class, () -> registry.load("good", wide));
                assertTrue(e.getMessage().contains("do not fit the base's 16x16"), e.getMessage());
                e = assertThrows(IOException.class, () -> registry.load("dora", dora));
                assertTrue(e.getMessage().contains("DoRA"), e.getMessage());
                e = assertThrows(IOException.class, () -> registry.load("none", dir.resolve("missing")));
                assertTrue(e.getMessage().contains("not a PEFT adapter directory"), e.getMessage());
                assertEquals(List.of("good"), registry.ids());
                // a recording tape cannot run a mixed batch (the adapters are not parameters)
                try (AdapterRegistry.Lease lease = registry.acquire(List.of("good")); Tape t = new Tape(CpuBackend.get(), true)) {
                    var routing = org.tune4j.nn.AdapterRouting.of(arena, List.of(lease.adapters().get(0).factors()), new int[] {0}, 3);
                    TokenBatch in = TokenBatch.of(arena, new int[][] {{1, 2, 3}}, null);
                    assertThrows(IllegalStateException.class, () -> served.forward(t, in, routing));
                }
            }
        }
    }
}
