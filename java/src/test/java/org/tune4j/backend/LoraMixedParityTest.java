package org.tune4j.backend;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tune4j.backend.TestTensors.assertBitwiseEqual;
import static org.tune4j.backend.TestTensors.assertClose;
import static org.tune4j.backend.TestTensors.copy;
import static org.tune4j.backend.TestTensors.random;
import static org.tune4j.backend.TestTensors.randomStrided;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * The mixed-adapter LoRA kernels (segmented and per-row) at every SIMD level against the reference, and the
 * mixed batch (base once, then shrink and expand) against the per-adapter loop: each adapter's rows through
 * {@link Backend#loraForward} on the reference. Odd shapes, ranks 1 to 33 side by side, rows without an adapter.
 */
class LoraMixedParityTest {
    private static final ReferenceBackend REF = new ReferenceBackend();
    /** t, d_in, d_out, then the adapters' ranks */
    private static final long[][] SHAPES = {
        {1, 1, 1, 1}, {5, 17, 3, 2, 1}, {33, 7, 65, 3, 16, 1}, {200, 64, 48, 16, 16, 16, 16}, {97, 130, 33, 33, 5},
        {300, 40, 70, 8, 1, 16, 4, 12, 2, 9}, {150, 500, 1100, 16, 7, 3}, // two row blocks, two K blocks, two column panels
    };

    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        for (SimdLevel level : SimdLevel.values())
            for (long[] s : SHAPES)
                for (boolean perRow : new boolean[] {false, true}) out.add(Arguments.of(level, s, perRow));
        return out.stream();
    }

    @AfterEach
    void restoreLevel() {
        CpuBackend.setSimdLevel(SimdLevel.AVX512);
    }

    /** A mixed batch's routing: rows in segments (some empty, some with no adapter), and the same as one adapter a row. */
    record Routing(Tensor segStart, Tensor segAdapter, Tensor rowAdapter) {}

    static Routing routing(Arena arena, SplittableRandom rng, long t, int adapters) {
        List<Integer> starts = new ArrayList<>(), ids = new ArrayList<>();
        int row = 0;
        starts.add(0);
        while (row < t) {
            int len = rng.nextInt(4) == 0 ? 0 : 1 + rng.nextInt((int) Math.min(t - row, 120)); // empty segments too
            ids.add(rng.nextInt(adapters + 1) - 1);
            row += len;
            starts.add(row);
        }
        Tensor segStart = Tensor.zeros(arena, DType.I32, starts.size()), segAdapter = Tensor.zeros(arena, DType.I32, ids.size());
        Tensor rowAdapter = Tensor.zeros(arena, DType.I32, t);
        for (int s = 0; s < ids.size(); s++) {
            segStart.setInt(s, starts.get(s));
            segAdapter.setInt(s, ids.get(s));
            for (int p = starts.get(s); p < starts.get(s + 1); p++) rowAdapter.setInt(p, ids.get(s));
        }
        segStart.setInt(ids.size(), starts.getLast());
        return new Routing(segStart, segAdapter, rowAdapter);
    }

    static LoraAdapters adapters(Arena arena, SplittableRandom rng, long dIn, long dOut, long[] ranks) {
        List<Tensor> a = new ArrayList<>(), b = new ArrayList<>();
        float[] scales = new float[ranks.length];
        for (int i = 0; i < ranks.length; i++) {
            a.add(random(arena, rng, ranks[i], dIn));
            b.add(random(arena, rng, dOut, ranks[i]));
            scales[i] = 2f / ranks[i];
        }
        return new LoraAdapters(a, b, scales);
    }

    static void shrink(Backend be, Tensor x, Routing r, LoraAdapters ad, Tensor h, boolean perRow) {
        if (perRow) be.loraShrinkRows(x, r.rowAdapter(), ad, h);
        else be.loraShrinkSegments(x, r.segStart(), r.segAdapter(), ad, h);
    }

    static void expand(Backend be, Tensor h, Routing r, LoraAdapters ad, Tensor y, boolean perRow) {
        if (perRow) be.loraExpandRows(h, r.rowAdapter(), ad, y);
        else be.loraExpandSegments(h, r.segStart(), r.segAdapter(), ad, y);
    }

    @ParameterizedTest(name = "{0} {1} perRow={2}")
    @MethodSource("cases")
    void matchesReferenceAndThePerAdapterLoop(SimdLevel level, long[] shape, boolean perRow) {
        TestTensors.useLevel(level);
        CpuBackend cpu = CpuBackend.get();
        long t = shape[0], dIn = shape[1], dOut = shape[2];
        long[] ranks = java.util.Arrays.copyOfRange(shape, 3, shape.length);
        SplittableRandom rng = new SplittableRandom(t * 31 + dIn * 7 + dOut + ranks.length);
        double tol = 3e-6 * (dIn + dOut + 40);
        try (Arena arena = Arena.ofConfined()) {
            Tensor x = randomStrided(arena, rng, t, dIn, 5), w = random(arena, rng, dOut, dIn), bias = Tensor.of(arena, random(arena, rng, 1, dOut).toFloatArray(), dOut);
            LoraAdapters ad = adapters(arena, rng, dIn, dOut, ranks);
            Routing r = routing(arena, rng, t, ranks.length);
            long width = ad.maxRank() + 3; // h wider than any rank: the padding is written as zeros
            Tensor hRef = random(arena, rng, t, width), h = copy(arena, hRef);
            shrink(REF, x, r, ad, hRef, perRow);
            shrink(cpu, x, r, ad, h, perRow);
            assertClose(hRef, h, tol, level + " h");

            // the base once for the whole batch, then the low-rank terms
            Tensor yBig = random(arena, rng, t, dOut + 4);
            Tensor y = yBig.view(0, 2, t, dOut);
            cpu.gemm(false, true, 1f, x, w, 0f, y);
            for (long p = 0; p < t; p++) for (long o = 0; o < dOut; o++) y.setFloat(p, o, y.getFloat(p, o) + bias.getFloat(o));
            Tensor yRef = copy(arena, y);
            expand(REF, hRef, r, ad, yRef, perRow);
            expand(cpu, h, r, ad, y, perRow);
            assertClose(yRef, y, tol, level + " y");

            // the whole layer in one pass (segments): the same y, and the same h
            if (!perRow) {
                Tensor yFusedBig = random(arena, rng, t, dOut + 4), yFused = yFusedBig.view(0, 1, t, dOut), hFused = Tensor.zeros(arena, DType.F32, t, width);
                cpu.loraMixedForward(x, w, bias, r.segStart(), r.segAdapter(), ad, hFused, yFused);
                assertClose(yRef, yFused, tol, level + " fused y");
                assertClose(hRef, hFused, tol, level + " fused h");
                Tensor yRefFused = Tensor.zeros(arena, DType.F32, t, dOut);
                REF.loraMixedForward(x, w, bias, r.segStart(), r.segAdapter(), ad, Tensor.zeros(arena, DType.F32, t, width), yRefFused);
                assertClose(yRefFused, yFused, tol, level + " fused y against the reference's");
                // over the base packed ahead: the same bits where the packed linear gives the plain one's (above 16 rows and outputs)
                PackedLinearWeights packed = PackedLinearWeights.pack(arena, w);
                Tensor yPacked = Tensor.zeros(arena, DType.F32, t, dOut), hPacked = Tensor.zeros(arena, DType.F32, t, width);
                cpu.loraMixedForwardPacked(x, packed, bias, r.segStart(), r.segAdapter(), ad, hPacked, yPacked);
                assertClose(yRef, yPacked, tol, level + " packed y");
                assertBitwiseEqual(hFused, hPacked, level + " packed h");
                if (!packed.onAmx(t) && t > 16 && dOut > 16) assertBitwiseEqual(yFused, yPacked, level + " packed and plain y"); // AMX: f32-grade, other bits
                Tensor yRefPacked = Tensor.zeros(arena, DType.F32, t, dOut);
                REF.loraMixedForwardPacked(x, packed, bias, r.segStart(), r.segAdapter(), ad, Tensor.zeros(arena, DType.F32, t, width), yRefPacked);
                assertBitwiseEqual(yRefFused, yRefPacked, level + " the reference's packed y is its plain one");
                org.junit.jupiter.api.Assertions.assertEquals(0, packed.fallbacks(), "calls that did not run on the packed weights");
                y = yFused;
            }

            // the per-adapter loop: each row through its own adapter's fused LoRA forward
            for (long p = 0; p < t; p++) {
                int i = r.rowAdapter().getInt(p);
                Tensor xp = copy(arena, x.view(p, 0, 1, dIn)), yp = Tensor.zeros(arena, DType.F32, 1, dOut);
                if (i < 0) {
                    REF.gemm(false, true, 1f, xp, w, 0f, yp);
                    for (long o = 0; o < dOut; o++) yp.setFloat(o, yp.getFloat(o) + bias.getFloat(o));
                } else {
                    REF.loraForward(xp, null, w, bias, ad.a().get(i), ad.b().get(i), ad.scales()[i], Tensor.zeros(arena, DType.F32, 1, ad.rank(i)), yp);
                }
                assertClose(yp, copy(arena, y.view(p, 0, 1, dOut)), tol, level + " row " + p + " (adapter " + i + ") against its own LoRA forward");
            }
        }
    }

    @Test
    void sameBitsForEveryThreadCountAndBothForms() {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rng = new SplittableRandom(5);
            long t = 777, dIn = 96, dOut = 80; // rows split between threads, and (d_out 80) columns
            Tensor x = random(arena, rng, t, dIn);
            LoraAdapters ad = adapters(arena, rng, dIn, dOut, new long[] {16, 16, 8, 16});
            Routing r = routing(arena, rng, t, 4);
            int before = CpuBackend.threads();
            try {
                List<Tensor> ys = new ArrayList<>(), fusedYs = new ArrayList<>();
                Tensor w = random(arena, rng, dOut, dIn);
                for (int threads : new int[] {1, 2, 3}) {
                    CpuBackend.setThreads(threads);
                    for (boolean perRow : new boolean[] {false, true}) {
                        Tensor h = Tensor.zeros(arena, DType.F32, t, 16), y = random(arena, new SplittableRandom(9), t, dOut);
                        shrink(CpuBackend.get(), x, r, ad, h, perRow);
                        expand(CpuBackend.get(), h, r, ad, y, perRow);
                        ys.add(y);
                    }
                    Tensor fused = Tensor.zeros(arena, DType.F32, t, dOut);
                    CpuBackend.get().loraMixedForward(x, w, null, r.segStart(), r.segAdapter(), ad, Tensor.zeros(arena, DType.F32, t, 16), fused);
                    fusedYs.add(fused);
                }
                for (Tensor y : ys) assertBitwiseEqual(ys.get(0), y, "y");
                for (Tensor y : fusedYs) assertBitwiseEqual(fusedYs.get(0), y, "the fused forward's y");
            } finally {
                CpuBackend.setThreads(before);
            }
        }
    }

    @Test
    void badInputIsRefusedByName() {
        for (Backend be : new Backend[] {REF, CpuBackend.get()}) {
            try (Arena arena = Arena.ofConfined()) {
                SplittableRandom rng = new SplittableRandom(1);
                Tensor x = random(arena, rng, 6, 8), h = Tensor.zeros(arena, DType.F32, 6, 4), y = Tensor.zeros(arena, DType.F32, 6, 5);
                LoraAdapters ad = adapters(arena, rng, 8, 5, new long[] {4, 2});
                Tensor start = Tensor.zeros(arena, DType.I32, 3), ids = Tensor.zeros(arena, DType.I32, 2);
                start.setInt(1, 2);
                start.setInt(2, 5); // the last start must be the row count 6
                assertMessage(() -> be.loraShrinkSegments(x, start, ids, ad, h), "segStart[2] must be the row count 6");
                start.setInt(2, 6);
                ids.setInt(1, 2);
                assertMessage(() -> be.loraShrinkSegments(x, start, ids, ad, h), "segAdapter[1] = 2 is outside [-1, 2)");
                ids.setInt(1, 1);
                assertMessage(() -> be.loraShrinkSegments(x, start, ids, ad, Tensor.zeros(arena, DType.F32, 6, 3)), "fewer than the largest rank 4");
                assertMessage(() -> be.loraExpandSegments(h, start, ids, ad, Tensor.zeros(arena, DType.F32, 6, 7)), "must be 6x5");
                Tensor rows = Tensor.zeros(arena, DType.I32, 6);
                rows.setInt(3, -2);
                assertMessage(() -> be.loraExpandRows(h, rows, ad, y), "rowAdapter[3] = -2 is outside [-1, 2)");
                assertMessage(() -> be.loraShrinkRows(random(arena, rng, 6, 9), rows, ad, h), "x has 9 columns");
                Arena gone = Arena.ofConfined();
                LoraAdapters unloaded = adapters(gone, rng, 8, 5, new long[] {4});
                gone.close();
                rows.setInt(3, 0);
                assertMessage(() -> be.loraShrinkRows(x, rows, unloaded, h), "adapter 0's A: its memory was freed");
                assertMessage(() -> new LoraAdapters(List.of(random(arena, rng, 2, 8)), List.of(random(arena, rng, 5, 3)), new float[] {1}), "adapter 0's B must be");
            }
        }
    }

    private static void assertMessage(org.junit.jupiter.api.function.Executable call, String part) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        assertTrue(e.getMessage().contains(part), "message '" + e.getMessage() + "' should contain '" + part + "'");
    }
}
