package org.tune4j.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * The kernels flush subnormal floats to zero by default (CpuBackend.flushDenormals, ARCHITECTURE.md "Numerics"), and
 * keep them when told. Attention over a row whose scores lie 87 and more below its maximum gives a probability of
 * e^-87 / Σ, below the smallest normal float: 0 flushed (as the reference's float exp gives), subnormal kept. Either
 * way the outputs agree with the reference; and the caller's own mode is what it was after the call.
 */
class SubnormalFlushTest {
    private static final float SMALLEST_NORMAL = Float.MIN_NORMAL;
    private static final ReferenceBackend REF = new ReferenceBackend();

    @AfterEach
    void restore() {
        CpuBackend.setFlushDenormals(true);
        CpuBackend.setSimdLevel(SimdLevel.supported().getLast());
    }

    @Test
    void flushingIsTheDefault() {
        assertTrue(CpuBackend.flushDenormals(), "the kernels flush subnormals unless told otherwise");
    }

    /** One sequence of 4 tokens, one head of 4: every query scores the keys 5, 5, -200 and 0 (k's first feature). */
    private static Tensor[] peakedAttention(Arena arena) {
        Tensor q = Tensor.zeros(arena, DType.F32, 4, 4), k = Tensor.zeros(arena, DType.F32, 4, 4), v = Tensor.zeros(arena, DType.F32, 4, 4);
        float[] keyScores = {5f, 5f, -200f, 0f};
        for (int i = 0; i < 4; i++) {
            q.setFloat(i * 4, 1f);
            k.setFloat(i * 4, keyScores[i]);
            for (int d = 0; d < 4; d++) v.setFloat(i * 4 + d, 0.25f * (i + 1) - 0.1f * d);
        }
        return new Tensor[] {q, k, v};
    }

    @ParameterizedTest
    @EnumSource(SimdLevel.class)
    void attentionProbabilitiesBelowTheNormalRangeAreZeroWhenFlushedAndSubnormalWhenKept(SimdLevel level) {
        TestTensors.useLevel(level);
        try (Arena arena = Arena.ofConfined()) {
            Tensor[] qkv = peakedAttention(arena);
            Tensor refProbs = Tensor.zeros(arena, DType.F32, 16), refOut = Tensor.zeros(arena, DType.F32, 4, 4);
            REF.attentionForward(1, 1, qkv[0], qkv[1], qkv[2], 1f, null, refProbs, refOut);
            for (boolean flush : new boolean[] {true, false}) {
                CpuBackend.setFlushDenormals(flush);
                Tensor probs = Tensor.zeros(arena, DType.F32, 16), out = Tensor.zeros(arena, DType.F32, 4, 4);
                CpuBackend.get().attentionForward(1, 1, qkv[0], qkv[1], qkv[2], 1f, null, probs, out);
                for (int row = 0; row < 4; row++) {
                    float p = probs.getFloat(row * 4 + 2); // the key 205 below the row's maximum
                    if (flush) assertEquals(0f, p, "flushed: key 2's probability in row " + row);
                    else assertTrue(p > 0f && p < SMALLEST_NORMAL, "kept: key 2's probability in row " + row + " is subnormal, is " + p);
                }
                for (long i = 0; i < out.numel(); i++)
                    assertEquals(refOut.getFloat(i), out.getFloat(i), 1e-6f, "flush " + flush + ": output " + i);
                // the caller's floating-point mode is restored: this thread's arithmetic still underflows gradually
                float normal = out.getFloat(0) * 0f + SMALLEST_NORMAL; // a value the compiler cannot fold
                assertTrue(normal / 4 > 0f, "Java's float arithmetic keeps subnormals after the call");
            }
        }
    }

    @Test
    void aGemmReadsSubnormalOperandsAsZeroWhenFlushing() {
        try (Arena arena = Arena.ofConfined()) {
            long n = 24; // a tiled product, on the pool's path
            Tensor a = Tensor.zeros(arena, DType.F32, n, n), eye = Tensor.zeros(arena, DType.F32, n, n);
            for (int i = 0; i < n; i++) {
                eye.setFloat(i * n + i, 1f);
                for (int j = 0; j < n; j++) a.setFloat(i * n + j, j == 0 ? SMALLEST_NORMAL / 8 : 1f);
            }
            for (boolean flush : new boolean[] {true, false}) {
                CpuBackend.setFlushDenormals(flush);
                Tensor c = Tensor.zeros(arena, DType.F32, n, n);
                CpuBackend.get().gemm(false, false, 1f, a, eye, 0f, c);
                for (int i = 0; i < n; i++) {
                    assertEquals(flush ? 0f : SMALLEST_NORMAL / 8, c.getFloat(i * n), "flush " + flush + ": the subnormal column, row " + i);
                    assertEquals(1f, c.getFloat(i * n + 1), "flush " + flush + ": a normal column, row " + i);
                }
            }
        }
    }
}
