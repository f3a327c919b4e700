package org.tune4j.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tune4j.backend.TestTensors.random;

import java.lang.foreign.Arena;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * What the mask, CSR and 2:4 kernels owe beyond the op table's parity (OpTableCompressed): ties in 2:4 masks, 32-bit
 * CSR indices for wide rows, masks that survive a training step.
 */
class SparseParityTest {
    private static final ReferenceBackend REF = new ReferenceBackend();
    private static final CpuBackend CPU = CpuBackend.get();
    @AfterEach
    void restoreLevel() {
        CpuBackend.setSimdLevel(SimdLevel.AVX512);
    }

    private static Tensor mask(Arena arena, Tensor w) {
        return Tensor.zeros(arena, DType.I8, w.dim(0), w.dim(1));
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
