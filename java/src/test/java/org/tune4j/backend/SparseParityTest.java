package org.tune4j.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
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

/** Masks, CSR and 2:4 kernels against ReferenceBackend at every SIMD level. */
class SparseParityTest {
    private static final ReferenceBackend REF = new ReferenceBackend();
    private static final CpuBackend CPU = CpuBackend.get();
    /**
     * m, n, k (k a multiple of 4 for 2:4). m ≤ 4 takes the few-rows 2:4 kernel: the last ones span several
     * row tiles (64 rows) and group tiles (32 groups of 4) with partial ones, and vector steps with a tail.
     */
    private static final long[][] SHAPES = {
        {1, 1, 4}, {1, 3, 16}, {3, 1, 32}, {2, 33, 20}, {5, 17, 36}, {17, 33, 4}, {33, 17, 68}, {16, 64, 256}, {47, 65, 132},
        {1, 129, 520}, {4, 70, 140}, {3, 200, 1028},
    };

    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        for (SimdLevel level : SimdLevel.values())
            for (long[] s : SHAPES)
                for (double sparsity : new double[] {0.5, 0.9}) out.add(Arguments.of(level, s[0], s[1], s[2], sparsity));
        return out.stream();
    }

    @AfterEach
    void restoreLevel() {
        CpuBackend.setSimdLevel(SimdLevel.AVX512);
    }

    private static Tensor mask(Arena arena, Tensor w) {
        return Tensor.zeros(arena, DType.I8, w.dim(0), w.dim(1));
    }

    private static void assertBytesEqual(Tensor expected, Tensor actual, String what) {
        for (long i = 0; i < expected.numel(); i++) assertEquals(expected.getByte(i), actual.getByte(i), what + " [" + i + "]");
    }

    @ParameterizedTest(name = "{0} m={1} n={2} k={3} sparsity={4}")
    @MethodSource("cases")
    void masksAndProductsMatchReference(SimdLevel level, long m, long n, long k, double sparsity) {
        TestTensors.useLevel(level);
        SplittableRandom rng = new SplittableRandom(m * 131 + n * 17 + k + (long) (sparsity * 10));
        double tol = 3e-6 * (k + 8);
        try (Arena arena = Arena.ofConfined()) {
            Tensor w = random(arena, rng, n, k);
            long count = (long) (sparsity * n * k);
            float threshold = CPU.magnitudeThreshold(w, count);
            assertEquals(REF.magnitudeThreshold(w, count), threshold, level + " threshold");

            Tensor mRef = mask(arena, w), mCpu = mask(arena, w);
            REF.magnitudeMask(w, threshold, mRef);
            CPU.magnitudeMask(w, threshold, mCpu);
            assertBytesEqual(mRef, mCpu, level + " magnitude mask");
            Tensor pruned = copy(arena, w);
            CPU.applyMask(pruned, mCpu);

            // CSR forward (strided x and y), input gradient, masked weight gradient
            CsrWeights csr = CsrWeights.fromDense(arena, pruned);
            assertEquals(k <= 65536 ? 16 : 32, csr.indexBits());
            assertEquals(count, n * k - csr.nnz(), "exactly `count` weights pruned (random values have no ties)");
            Tensor x = randomStrided(arena, rng, m, k, 3), bias = Tensor.of(arena, random(arena, rng, 1, n).toFloatArray(), n);
            for (Activation act : Activation.values()) {
                Tensor yRef = Tensor.zeros(arena, DType.F32, m, n), yCpu = Tensor.zeros(arena, DType.F32, m, n);
                REF.csrLinear(x, csr, bias, act, yRef);
                CPU.csrLinear(x, csr, bias, act, yCpu);
                assertClose(yRef, yCpu, tol, level + " csrLinear " + act);
            }
            // and against the dense pruned weight, which no CSR structure built (the reference above reads the native one)
            Tensor yPruned = Tensor.zeros(arena, DType.F32, m, n), yCsr = Tensor.zeros(arena, DType.F32, m, n);
            REF.gemm(false, true, 1f, x, pruned, 0f, yPruned);
            CPU.csrLinear(x, csr, null, Activation.NONE, yCsr);
            assertClose(yPruned, yCsr, tol, level + " csrLinear against the dense pruned weight");
            Tensor g = random(arena, rng, m, n);
            Tensor dxRef = random(arena, rng, m, k), dxCpu = copy(arena, dxRef);
            REF.csrBackwardInput(g, csr, dxRef);
            CPU.csrBackwardInput(g, csr, dxCpu);
            assertClose(dxRef, dxCpu, 3e-6 * (n + 8), level + " csrBackwardInput");
            Tensor dvRef = Tensor.zeros(arena, DType.F32, csr.nnz()), dvCpu = Tensor.zeros(arena, DType.F32, csr.nnz());
            REF.csrGradValues(g, x, csr, dvRef);
            CPU.csrGradValues(g, x, csr, dvCpu);
            assertClose(dvRef, dvCpu, 3e-6 * (m + 8), level + " csrGradValues");

            // 2:4: mask, compression, forward
            Tensor m24Ref = mask(arena, w), m24Cpu = mask(arena, w);
            REF.mask2to4(w, m24Ref);
            CPU.mask2to4(w, m24Cpu);
            assertBytesEqual(m24Ref, m24Cpu, level + " 2:4 mask");
            Sparse24Weights s24 = Sparse24Weights.fromDense(arena, w);
            Tensor y24Ref = Tensor.zeros(arena, DType.F32, m, n), y24Cpu = Tensor.zeros(arena, DType.F32, m, n);
            REF.sparse24Linear(x, s24, bias, Activation.RELU, y24Ref);
            CPU.sparse24Linear(x, s24, bias, Activation.RELU, y24Cpu);
            assertClose(y24Ref, y24Cpu, tol, level + " sparse24Linear");
            // the 2:4 weights are the masked dense ones: same result as a dense GEMM over w ⊙ mask
            Tensor w24 = copy(arena, w);
            CPU.applyMask(w24, m24Cpu);
            Tensor yDense = Tensor.zeros(arena, DType.F32, m, n);
            REF.gemm(false, true, 1f, x, w24, 0f, yDense);
            for (long i = 0; i < m; i++)
                for (long j = 0; j < n; j++) yDense.setFloat(i, j, Math.max(0f, yDense.getFloat(i, j) + bias.getFloat(j)));
            assertClose(yDense, y24Cpu, tol, level + " 2:4 against dense ⊙ mask");
        }
    }

    @Test
    void twoToFourTiesKeepTheLowerPositions() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor w = Tensor.of(arena, new float[] {1, -1, 1, 1, 0, 0, 0, 0, 3, 1, -3, 2}, 1, 12);
            for (Backend be : List.of(REF, CPU)) {
                Tensor m = Tensor.zeros(arena, DType.I8, 1, 12);
                be.mask2to4(w, m);
                byte[] expected = {1, 1, 0, 0, 1, 1, 0, 0, 1, 0, 1, 0};
                for (int i = 0; i < 12; i++) assertEquals(expected[i], m.getByte(i), be.name() + " position " + i);
            }
        }
    }

    @Test
    void wideRowsUse32BitIndices() {
        try (Arena arena = Arena.ofConfined()) {
            long n = 3, k = 70_001;
            Tensor w = Tensor.zeros(arena, DType.F32, n, k);
            w.setFloat(0, 69_999, 2f);
            w.setFloat(1, 5, -1f);
            w.setFloat(2, 70_000, 3f);
            CsrWeights csr = CsrWeights.fromDense(arena, w);
            assertEquals(32, csr.indexBits());
            assertEquals(3, csr.nnz());
            Tensor x = Tensor.zeros(arena, DType.F32, 2, k);
            x.setFloat(1, 69_999, 1.5f);
            x.setFloat(1, 70_000, 2f);
            Tensor y = Tensor.zeros(arena, DType.F32, 2, n);
            CPU.csrLinear(x, csr, null, Activation.NONE, y);
            assertEquals(3f, y.getFloat(1, 0));
            assertEquals(6f, y.getFloat(1, 2));
            assertEquals(0f, y.getFloat(0, 1));
        }
    }

    /** A training step keeps the pruned weights at zero, in both ways of fine-tuning a pruned layer. */
    @Test
    void masksSurviveATrainingStep() {
        SplittableRandom rng = new SplittableRandom(12);
        try (Arena arena = Arena.ofConfined()) {
            long m = 8, n = 16, k = 32;
            Tensor w = random(arena, rng, n, k), x = random(arena, rng, m, k), g = random(arena, rng, m, n);
            Tensor mask = mask(arena, w);
            CPU.mask2to4(w, mask);
            CPU.applyMask(w, mask);
            // dense weight + mask: dW = gᵀ x, kept on the mask, then W -= lr · dW
            Tensor dw = Tensor.zeros(arena, DType.F32, n, k);
            CPU.gemm(true, false, 1f, g, x, 0f, dw);
            CPU.applyMask(dw, mask);
            for (long i = 0; i < w.numel(); i++) w.setFloat(i, w.getFloat(i) - 0.1f * dw.getFloat(i));
            for (long i = 0; i < w.numel(); i++) if (mask.getByte(i) == 0) assertEquals(0f, w.getFloat(i), "pruned weight " + i);
            // CSR: the gradient exists only for the nonzeros, so the structure cannot change
            CsrWeights csr = CsrWeights.fromDense(arena, w);
            long nnz = csr.nnz();
            Tensor dv = Tensor.zeros(arena, DType.F32, nnz);
            CPU.csrGradValues(g, x, csr, dv);
            for (long e = 0; e < nnz; e++) csr.values().setFloat(e, csr.values().getFloat(e) - 0.1f * dv.getFloat(e));
            Tensor after = csr.toDense(arena);
            for (long i = 0; i < after.numel(); i++) if (mask.getByte(i) == 0) assertEquals(0f, after.getFloat(i));
            assertTrue(nnz <= n * k / 2);
        }
    }
}
