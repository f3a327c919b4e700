package org.tune4j.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tune4j.backend.TestTensors.assertBitwiseEqual;
import static org.tune4j.backend.TestTensors.random;
import static org.tune4j.backend.TestTensors.randomStrided;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * The packed f32 linear on AMX-BF16 tiles (tune4j.h {@code t4j_linear_set_amx}; ARCHITECTURE.md, "GEMM": f32 products
 * on AMX tiles): each operand as three bf16 pieces, six piece products. Its sums are not the FMA kernels' bits, so they
 * are checked against double: within a few units of a float's rounding of Σ|x w| on odd shapes (a piece product left
 * out would be 2^-16 of it, 256 units). NaN and infinity give what f32 gives; 32 rows or fewer, and AMX turned off,
 * run on the slivers the packing keeps beside the tiles. Runs only where the CPU has AMX-BF16.
 */
@ExtendWith(AmxTilesOn.class)
class LinearAmxTest {
    private static final double U = Math.pow(2, -24);

    /** |y - Σ x w - b| against 12 units of Σ |x w| + |b|, in double, every output; the worst ratio. */
    private static double worstUnits(Tensor x, Tensor w, Tensor bias, Tensor y) {
        double worst = 0;
        for (long i = 0; i < y.dim(0); i++)
            for (long j = 0; j < y.dim(1); j++) {
                double b = bias == null ? 0 : bias.getFloat(0, j), sum = b, mag = Math.abs(b);
                for (long p = 0; p < x.dim(1); p++) {
                    double t = (double) x.getFloat(i, p) * w.getFloat(j, p);
                    sum += t;
                    mag += Math.abs(t);
                }
                double err = Math.abs(y.getFloat(i, j) - sum);
                if (err > 0) worst = Math.max(worst, err / (U * Math.max(mag, Float.MIN_NORMAL)));
            }
        return worst;
    }

    @Test
    void sumsAreAsAccurateAsFloatsOnOddShapes() {
        long[][] shapes = {{33, 1, 1}, {40, 7, 33}, {48, 32, 32}, {49, 33, 31}, {57, 384, 384}, {33, 40, 1536}, {64, 96, 100}, {130, 70, 65}};
        try (Arena arena = Arena.ofConfined()) {
            for (long[] s : shapes) {
                SplittableRandom rng = new SplittableRandom(s[0] * 131 + s[1] * 17 + s[2]);
                Tensor x = randomStrided(arena, rng, s[0], s[2], 3), w = randomStrided(arena, rng, s[1], s[2], 5), bias = random(arena, rng, 1, s[1]);
                PackedLinearWeights packed = PackedLinearWeights.pack(arena, w);
                assertTrue(packed.onAmx(s[0]), "on AMX tiles");
                Tensor one = Tensor.zeros(arena, DType.F32, s[0], s[1]), all = randomStrided(arena, rng, s[0], s[1], 7), plain = Tensor.zeros(arena, DType.F32, s[0], s[1]);
                CpuBackend.setThreads(1);
                CpuBackend.get().linearPacked(x, packed, bias, one);
                CpuBackend.setThreads(Math.max(2, Runtime.getRuntime().availableProcessors()));
                CpuBackend.get().linearPacked(x, packed, bias, all);
                CpuBackend.get().linear(x, w, bias, plain);
                String what = s[0] + " x " + s[1] + " x " + s[2];
                assertBitwiseEqual(one, all, what + ": 1 thread and all");
                double amx = worstUnits(x, w, bias, one), fma = worstUnits(x, w, bias, plain);
                assertTrue(amx <= 12, what + ": AMX tiles " + amx + " units of Σ|x w| from double (the FMA kernels " + fma + ")");
                assertEquals(0, packed.fallbacks(), what + ": calls off the packed weights");
            }
        }
    }

    @Test
    void nanAndInfinityGiveWhatFloatsGive() {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rng = new SplittableRandom(7);
            Tensor x = random(arena, rng, 40, 70), w = random(arena, rng, 50, 70);
            x.setFloat(0, 3, Float.POSITIVE_INFINITY);
            x.setFloat(5, 69, Float.NEGATIVE_INFINITY);
            x.setFloat(9, 0, Float.NaN);
            x.setFloat(33, 40, Float.MAX_VALUE);
            w.setFloat(7, 3, 0.0f); // inf x 0: NaN in f32 too
            PackedLinearWeights packed = PackedLinearWeights.pack(arena, w);
            Tensor got = Tensor.zeros(arena, DType.F32, 40, 50), plain = Tensor.zeros(arena, DType.F32, 40, 50);
            CpuBackend.get().linearPacked(x, packed, null, got);
            CpuBackend.get().linear(x, w, null, plain);
            for (long i = 0; i < 40; i++)
                for (long j = 0; j < 50; j++) {
                    float e = plain.getFloat(i, j), a = got.getFloat(i, j);
                    String at = "(" + i + ", " + j + "): " + a + " where f32 gives " + e;
                    if (Float.isNaN(e) || Float.isInfinite(e)) assertEquals(Float.floatToIntBits(e), Float.floatToIntBits(a), at);
                    else assertTrue(Math.abs(a - e) <= 1e-6 * Math.max(1, Math.abs(e)), at);
                }
            assertTrue(Float.isInfinite(got.getFloat(0, 0)) && Float.isNaN(got.getFloat(0, 7)) && Float.isNaN(got.getFloat(9, 1)), "the rows with an infinity and a NaN");
        }
    }

    @Test
    void weightsWithAnInfinityKeepTheFmaKernelsAndTheirBits() {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rng = new SplittableRandom(8);
            Tensor x = random(arena, rng, 40, 70), w = random(arena, rng, 50, 70);
            w.setFloat(3, 3, Float.NEGATIVE_INFINITY);
            PackedLinearWeights packed = PackedLinearWeights.pack(arena, w);
            assertFalse(packed.amx(), "an infinity's other pieces are zeros: inf x 0 would make NaNs");
            Tensor got = Tensor.zeros(arena, DType.F32, 40, 50), plain = Tensor.zeros(arena, DType.F32, 40, 50);
            CpuBackend.get().linearPacked(x, packed, null, got);
            CpuBackend.get().linear(x, w, null, plain);
            assertBitwiseEqual(plain, got, "FMA-packed weights");
        }
    }

    @Test
    void fewRowsAndAmxTurnedOffRunTheFmaKernelsSlivers() {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rng = new SplittableRandom(9);
            Tensor x = random(arena, rng, 40, 70), w = random(arena, rng, 50, 70), bias = random(arena, rng, 1, 50);
            PackedLinearWeights packed = PackedLinearWeights.pack(arena, w);
            assertTrue(packed.amx() && packed.onAmx(33) && !packed.onAmx(32), "more than 32 rows on the tiles");
            Tensor few = x.view(0, 0, 32, 70), fewGot = Tensor.zeros(arena, DType.F32, 32, 50), fewPlain = Tensor.zeros(arena, DType.F32, 32, 50);
            CpuBackend.get().linearPacked(few, packed, bias, fewGot);
            CpuBackend.get().linear(few, w, bias, fewPlain);
            assertBitwiseEqual(fewPlain, fewGot, "32 rows: the slivers");
            assertFalse(CpuBackend.setLinearAmx(false));
            assertFalse(packed.onAmx(40));
            Tensor got = Tensor.zeros(arena, DType.F32, 40, 50), plain = Tensor.zeros(arena, DType.F32, 40, 50);
            CpuBackend.get().linearPacked(x, packed, bias, got);
            CpuBackend.get().linear(x, w, bias, plain);
            assertBitwiseEqual(plain, got, "packed with tiles, run with AMX off: the slivers");
            assertEquals(0, packed.fallbacks(), "no call off the packed weights");
            assertFalse(PackedLinearWeights.pack(arena, w).amx(), "packed with AMX off: no tiles");
        }
    }

    /** A training step's packing (tiles alone): more than 32 rows on the tiles, fewer and AMX off on the plain linear, counted. */
    @Test
    void aStepsPackingKeepsTheTilesAloneAndFallsBackForFewRows() {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rng = new SplittableRandom(10);
            Tensor x = random(arena, rng, 40, 70), w = random(arena, rng, 50, 70);
            PackedLinearWeights both = PackedLinearWeights.packWithTransposed(arena, w), any = PackedLinearWeights.pack(arena, w);
            assertTrue(both.amx() && both.transposed().amx(), "tiles");
            assertTrue(both.packedBytes() < any.packedBytes(), "no slivers beside the tiles: " + both.packedBytes() + " against " + any.packedBytes() + " bytes");
            Tensor got = Tensor.zeros(arena, DType.F32, 40, 50), plain = Tensor.zeros(arena, DType.F32, 40, 50);
            CpuBackend.get().linearPacked(x, both, null, got);
            CpuBackend.get().linear(x, w, null, plain);
            assertTrue(worstUnits(x, w, null, got) <= 12, "40 rows on the tiles");
            assertEquals(0, both.fallbacks());
            Tensor few = x.view(0, 0, 32, 70), fewGot = Tensor.zeros(arena, DType.F32, 32, 50), fewPlain = Tensor.zeros(arena, DType.F32, 32, 50);
            CpuBackend.get().linearPacked(few, both, null, fewGot);
            CpuBackend.get().linear(few, w, null, fewPlain);
            assertBitwiseEqual(fewPlain, fewGot, "32 rows: the plain linear");
            assertEquals(1, both.fallbacks(), "the call with too few rows for the tiles");
            CpuBackend.setLinearAmx(false);
            CpuBackend.get().linearPacked(x, both, null, got);
            assertBitwiseEqual(plain, got, "AMX off: the plain linear");
            assertEquals(2, both.fallbacks(), "and the call with AMX off");
        }
    }
}
