package org.tune4j.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tune4j.backend.TestTensors.assertBitwiseEqual;
import static org.tune4j.backend.TestTensors.copy;
import static org.tune4j.backend.TestTensors.random;
import static org.tune4j.backend.TestTensors.randomStrided;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * {@link CpuBackend#gemm} and {@link CpuBackend#linear} on AMX-BF16 tiles, their operands packed at the call (tune4j.h
 * {@code t4j_gemm_on_amx}; ARCHITECTURE.md, "GEMM": f32 products on AMX tiles): every transpose, alpha and beta, odd
 * shapes, against double (as {@link LinearAmxTest}: a few units of a float's rounding of Σ|a b| + |beta c|); the same
 * bits on one thread and on all, and as the packed linear's tiles; NaN and infinity as f32 gives them; products under
 * the limits (a weight gradient over more than 1536 tokens among them) on the FMA kernels, bit for bit. Runs only where
 * the CPU has AMX-BF16.
 */
@ExtendWith(AmxTilesOn.class)
class GemmAmxTest {
    private static final double U = Math.pow(2, -24);

    private static float opA(Tensor a, boolean trans, long i, long p) {
        return trans ? a.getFloat(p, i) : a.getFloat(i, p);
    }

    private static float opB(Tensor b, boolean trans, long p, long j) {
        return trans ? b.getFloat(j, p) : b.getFloat(p, j);
    }

    /** |c - alpha Σ op(A) op(B) - beta c0| against units of |alpha| Σ|op(A) op(B)| + |beta c0|, in double; the worst ratio. */
    private static double worstUnits(boolean ta, boolean tb, float alpha, Tensor a, Tensor b, float beta, Tensor c0, Tensor c) {
        long k = ta ? a.dim(0) : a.dim(1);
        double worst = 0;
        double[] col = new double[(int) k];
        for (long j = 0; j < c.dim(1); j++) {
            for (long p = 0; p < k; p++) col[(int) p] = opB(b, tb, p, j);
            for (long i = 0; i < c.dim(0); i++) {
                double sum = 0, mag = 0;
                for (long p = 0; p < k; p++) {
                    double t = opA(a, ta, i, p) * col[(int) p];
                    sum += t;
                    mag += Math.abs(t);
                }
                double before = beta == 0 ? 0 : (double) beta * c0.getFloat(i, j);
                double err = Math.abs(c.getFloat(i, j) - (alpha * sum + before));
                double scale = Math.abs(alpha) * mag + Math.abs(before);
                if (err > 0) worst = Math.max(worst, err / (U * Math.max(scale, Float.MIN_NORMAL)));
            }
        }
        return worst;
    }

    @Test
    void everyTransposeAlphaAndBetaAsAccurateAsFloats() {
        // m, n, k: each 2 m n k at least 1.5e8 flops; odd sizes, a last block of 16 rows or fewer, and 33 rows
        long[][] shapes = {{257, 301, 999}, {1000, 77, 1001}, {40, 1903, 1000}, {33, 1517, 1511}};
        float[][] scales = {{1f, 0f}, {0.75f, 0.5f}, {-1.25f, 1f}};
        try (Arena arena = Arena.ofConfined()) {
            int at = 0;
            for (long[] s : shapes)
                for (int t = 0; t < 4; t++) {
                    boolean ta = (t & 1) != 0, tb = (t & 2) != 0;
                    long m = s[0], n = s[1], k = s[2];
                    assertTrue(CpuBackend.gemmOnAmx(ta, m, n, k), m + " x " + n + " x " + k + " on the tiles");
                    float[] ab = scales[at++ % scales.length];
                    SplittableRandom rng = new SplittableRandom(m * 31 + n * 7 + k + t);
                    Tensor a = ta ? randomStrided(arena, rng, k, m, 3) : randomStrided(arena, rng, m, k, 3);
                    Tensor b = tb ? randomStrided(arena, rng, n, k, 5) : randomStrided(arena, rng, k, n, 5);
                    Tensor c0 = randomStrided(arena, rng, m, n, 2);
                    if (ab[1] == 0) c0.setFloat(0, 0, Float.NaN); // beta 0: C not read
                    Tensor one = copy(arena, c0), all = copy(arena, c0), fma = copy(arena, c0);
                    CpuBackend.setThreads(1);
                    CpuBackend.get().gemm(ta, tb, ab[0], a, b, ab[1], one);
                    CpuBackend.setThreads(Math.max(2, Runtime.getRuntime().availableProcessors()));
                    CpuBackend.get().gemm(ta, tb, ab[0], a, b, ab[1], all);
                    CpuBackend.setLinearAmx(false);
                    CpuBackend.get().gemm(ta, tb, ab[0], a, b, ab[1], fma);
                    CpuBackend.setLinearAmx(true);
                    String what = m + " x " + n + " x " + k + (ta ? " Aᵀ" : " A") + (tb ? " Bᵀ" : " B") + " alpha " + ab[0] + " beta " + ab[1];
                    assertBitwiseEqual(one, all, what + ": 1 thread and all");
                    double amx = worstUnits(ta, tb, ab[0], a, b, ab[1], c0, one);
                    assertTrue(amx <= 12, () -> what + ": AMX tiles " + amx + " units from double (the FMA kernels "
                            + worstUnits(ta, tb, ab[0], a, b, ab[1], c0, fma) + ")");
                    assertFalse(bitwiseEqual(one, fma), what + ": the tiles' bits, not the FMA kernels'");
                }
        }
    }

    private static boolean bitwiseEqual(Tensor x, Tensor y) {
        for (long i = 0; i < x.dim(0); i++)
            for (long j = 0; j < x.dim(1); j++)
                if (Float.floatToRawIntBits(x.getFloat(i, j)) != Float.floatToRawIntBits(y.getFloat(i, j))) return false;
        return true;
    }

    @Test
    void linearGivesThePackedTilesBits() {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rng = new SplittableRandom(3);
            Tensor x = randomStrided(arena, rng, 517, 384, 3), w = randomStrided(arena, rng, 390, 384, 1), bias = random(arena, rng, 1, 390);
            assertTrue(CpuBackend.gemmOnAmx(false, 517, 390, 384));
            PackedLinearWeights packed = PackedLinearWeights.pack(arena, w);
            Tensor plain = Tensor.zeros(arena, DType.F32, 517, 390), tiles = Tensor.zeros(arena, DType.F32, 517, 390);
            CpuBackend.get().linear(x, w, bias, plain);
            CpuBackend.get().linearPacked(x, packed, bias, tiles);
            assertTrue(packed.onAmx(517));
            assertBitwiseEqual(tiles, plain, "linear packed at the call and packed ahead");
        }
    }

    @Test
    void nanAndInfinityGiveWhatFloatsGive() {
        // {A transposed, B transposed, the specials in B, alpha, beta}: in A with beta 0, rows recomputed after the
        // tiles; in A with beta not 0 (C would be overwritten first) and in B, declined before: the FMA kernels
        float[][] cases = {{0, 0, 0, 1f, 0f}, {1, 1, 0, 0.5f, 0f}, {0, 1, 0, 1f, 0.5f}, {1, 0, 1, 1f, 0f}, {0, 1, 1, 1f, 0f}};
        try (Arena arena = Arena.ofConfined()) {
            for (float[] c : cases) {
                boolean ta = c[0] != 0, tb = c[1] != 0, inB = c[2] != 0;
                float alpha = c[3], beta = c[4];
                long m = 300, n = 260, k = 1000;
                SplittableRandom rng = new SplittableRandom(11 + (long) (c[0] + 2 * c[1] + 4 * c[2]));
                Tensor a = ta ? random(arena, rng, k, m) : random(arena, rng, m, k), b = tb ? random(arena, rng, n, k) : random(arena, rng, k, n);
                Tensor special = inB ? b : a;
                special.setFloat(0, 3, Float.POSITIVE_INFINITY);
                special.setFloat(5, 69, Float.NEGATIVE_INFINITY);
                special.setFloat(9, 0, Float.NaN);
                special.setFloat(33, 40, Float.MAX_VALUE);
                Tensor c0 = random(arena, rng, m, n), got = copy(arena, c0), fma = copy(arena, c0);
                CpuBackend.get().gemm(ta, tb, alpha, a, b, beta, got);
                CpuBackend.setLinearAmx(false);
                CpuBackend.get().gemm(ta, tb, alpha, a, b, beta, fma);
                CpuBackend.setLinearAmx(true);
                String what = "in " + (inB ? "B" : "A") + (ta ? ", Aᵀ" : ", A") + (tb ? " Bᵀ" : " B") + " alpha " + alpha + " beta " + beta;
                if (inB || beta != 0) {
                    assertBitwiseEqual(fma, got, what + ": the FMA kernels");
                    continue;
                }
                int nonFinite = 0;
                for (long i = 0; i < m; i++)
                    for (long j = 0; j < n; j++) {
                        float e = fma.getFloat(i, j), v = got.getFloat(i, j);
                        if (Float.isNaN(e) || Float.isInfinite(e)) {
                            nonFinite++;
                            assertEquals(Float.floatToIntBits(e), Float.floatToIntBits(v), what + " (" + i + ", " + j + ")");
                        } else if (Math.abs(v - e) > 1e-3 + 1e-6 * Math.abs(e)) { // 12 units of Σ|a b| ≤ 1000 (entries in [-1, 1)), or the row of MAX_VALUE's
                            assertEquals(e, v, what + " (" + i + ", " + j + ")");
                        }
                    }
                assertEquals(3 * n, nonFinite, what + ": three rows of NaN and infinities");
            }
        }
    }

    @Test
    void productsUnderTheLimitsRunTheFmaKernels() {
        // {m, n, k, A transposed}: too few rows, columns, k or flops; a weight gradient over more than 1536 tokens
        long[][] shapes = {{32, 2000, 2000, 0}, {2000, 31, 2000, 0}, {2000, 2000, 31, 0}, {200, 200, 200, 0}, {400, 384, 1537, 1}};
        try (Arena arena = Arena.ofConfined()) {
            for (long[] s : shapes) {
                boolean ta = s[3] != 0;
                assertFalse(CpuBackend.gemmOnAmx(ta, s[0], s[1], s[2]), s[0] + " x " + s[1] + " x " + s[2]);
                assertTrue(!ta || CpuBackend.gemmOnAmx(false, s[0], s[1], s[2]), "the same product with A not transposed");
                SplittableRandom rng = new SplittableRandom(s[0] + s[1] + s[2]);
                Tensor a = ta ? random(arena, rng, s[2], s[0]) : random(arena, rng, s[0], s[2]), b = random(arena, rng, s[2], s[1]);
                Tensor got = Tensor.zeros(arena, DType.F32, s[0], s[1]), fma = Tensor.zeros(arena, DType.F32, s[0], s[1]);
                CpuBackend.get().gemm(ta, false, 1f, a, b, 0f, got);
                CpuBackend.setLinearAmx(false);
                assertFalse(CpuBackend.gemmOnAmx(false, 2000, 2000, 2000), "AMX off");
                CpuBackend.get().gemm(ta, false, 1f, a, b, 0f, fma);
                CpuBackend.setLinearAmx(true);
                assertBitwiseEqual(fma, got, s[0] + " x " + s[1] + " x " + s[2] + ": the FMA kernels");
            }
        }
    }
}
