package org.tune4j.nn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.tune4j.backend.Activation;
import org.tune4j.backend.CpuBackend;
import org.tune4j.backend.ReferenceBackend;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/** Converting a dense layer reports its error and sparsity, and the converted layer computes what it should. */
class ConversionTest {
    private static Tensor random(Arena arena, SplittableRandom rng, long rows, long cols) {
        Tensor t = Tensor.zeros(arena, DType.F32, rows, cols);
        for (long i = 0; i < t.numel(); i++) t.setFloat(i, (float) (rng.nextDouble() * 2 - 1));
        return t;
    }

    @Test
    void int8ConversionReportsItsErrorAndMatchesTheDenseLayer() {
        SplittableRandom rng = new SplittableRandom(1);
        try (Arena arena = Arena.ofConfined()) {
            Tensor w = random(arena, rng, 40, 64), x = random(arena, rng, 20, 64);
            Tensor bias = Tensor.of(arena, random(arena, rng, 1, 40).toFloatArray(), 40);
            Conversion<Int8Linear> c = Int8Linear.fromDense(arena, CpuBackend.get(), w, bias);
            // uniform weights in [-1, 1]: step ≈ 1/127, rms error step/√12 against an rms weight of 1/√3
            assertTrue(c.relativeError() > 0.002 && c.relativeError() < 0.006, "relative error " + c.relativeError());
            assertTrue(c.sparsity() < 0.02, "sparsity " + c.sparsity());
            for (int rows : new int[] {3, 20}) { // the weight-only and the dynamic kernel
                Tensor xs = x.view(0, 0, rows, 64);
                Tensor y8 = Tensor.zeros(arena, DType.F32, rows, 40), y32 = Tensor.zeros(arena, DType.F32, rows, 40);
                c.layer().forward(CpuBackend.get(), xs, y8, Activation.NONE);
                new ReferenceBackend().gemm(false, true, 1f, xs, w, 0f, y32);
                for (long i = 0; i < y32.numel(); i++) {
                    float expected = y32.getFloat(i) + bias.getFloat(i % 40);
                    assertEquals(expected, y8.getFloat(i), 0.05 + 0.02 * Math.abs(expected), "rows " + rows + " element " + i);
                }
            }
        }
    }

    @Test
    void sparseConversionReportsSparsityAndError() {
        SplittableRandom rng = new SplittableRandom(2);
        try (Arena arena = Arena.ofConfined()) {
            Tensor w = random(arena, rng, 32, 64), x = random(arena, rng, 5, 64);
            Conversion<SparseLinear> csr = SparseLinear.fromDense(arena, CpuBackend.get(), w, null, SparseLinear.Format.CSR, 0.9);
            assertEquals(0.9, csr.sparsity(), 1e-3);
            // |w| uniform in [0, 1]: the 90% smallest carry 0.9³ of Σw², so the relative error is sqrt(0.9³)
            assertEquals(Math.sqrt(0.9 * 0.9 * 0.9), csr.relativeError(), 0.05);
            Conversion<SparseLinear> s24 = SparseLinear.fromDense(arena, CpuBackend.get(), w, null, SparseLinear.Format.TWO_FOUR, 0);
            assertEquals(0.5, s24.sparsity(), 1e-9);
            assertTrue(s24.relativeError() > 0.1 && s24.relativeError() < 0.5, "2:4 error " + s24.relativeError());
            // each layer computes x·W'ᵀ for W' pruned here, independently: the 90% smallest |w| (CSR), the two
            // smallest |w| of every group of four along a row (2:4)
            float[] wv = w.toFloatArray(), sorted = new float[wv.length];
            for (int i = 0; i < wv.length; i++) sorted[i] = Math.abs(wv[i]);
            java.util.Arrays.sort(sorted);
            float cut = sorted[(int) Math.round(0.9 * wv.length) - 1];
            float[] csrW = new float[wv.length], w24 = new float[wv.length];
            for (int i = 0; i < wv.length; i++) csrW[i] = Math.abs(wv[i]) > cut ? wv[i] : 0f;
            for (int g = 0; g < wv.length; g += 4) {
                Integer[] order = {g, g + 1, g + 2, g + 3};
                java.util.Arrays.sort(order, (p, q) -> Float.compare(Math.abs(wv[q]), Math.abs(wv[p])));
                w24[order[0]] = wv[order[0]];
                w24[order[1]] = wv[order[1]];
            }
            Object[][] layers = {{csr.layer(), csrW, "CSR"}, {s24.layer(), w24, "2:4"}};
            for (Object[] c : layers) {
                Tensor y = Tensor.zeros(arena, DType.F32, 5, 32), want = Tensor.zeros(arena, DType.F32, 5, 32);
                ((SparseLinear) c[0]).forward(CpuBackend.get(), x, y, Activation.RELU);
                new ReferenceBackend().gemm(false, true, 1f, x, Tensor.of(arena, (float[]) c[1], 32, 64), 0f, want);
                for (int i = 0; i < 5 * 32; i++) {
                    float expected = Math.max(0f, want.getFloat(i));
                    assertEquals(expected, y.getFloat(i), 1e-5 * (1 + Math.abs(expected)), c[2] + " element " + i);
                }
            }
            for (SparseLinear l : new SparseLinear[] {csr.layer(), s24.layer()}) { // as a serving path's layer
                assertEquals(64, l.in());
                assertEquals(32, l.out());
                assertEquals(0, l.scratchColumns());
            }
            assertThrows(IllegalArgumentException.class,
                    () -> SparseLinear.fromDense(arena, CpuBackend.get(), w, null, SparseLinear.Format.CSR, 1.0));
        }
    }
}
