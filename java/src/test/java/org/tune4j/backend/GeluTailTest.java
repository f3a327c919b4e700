package org.tune4j.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Memory;
import org.tune4j.tensor.Tensor;

/**
 * The erf GELU's slope left of -4, where Φ(x) = (1 + erf(x/√2))/2 cancels: the kernels take Φ there from Mills' ratio,
 * and the reference from its continued fraction left of -5; the CUDA kernel from erfcf. They are checked relatively,
 * where the op table's absolute tolerance cannot see them (the slope at -6 is -3.5e-8).
 */
public class GeluTailTest {
    /** gelu'(x) = Φ(x) + x·φ(x), exact to double (SciPy's ndtr and norm.pdf) */
    private static final double[][] KNOWN = {{-4.5, -6.85291618563446e-05}, {-5, -7.1469460017922964e-06}, {-6, -3.546870945390202e-08},
            {-9, -9.138937373906642e-18}, {-12, -2.557895661674896e-31}};

    @Test
    void referenceSlopeIsRelativelyExactInTheTail() {
        for (double[] k : KNOWN) {
            double got = ReferenceBackend.geluGrad(k[0], true);
            assertEquals(k[1], got, Math.abs(k[1]) * 1e-11, "x " + k[0]);
        }
        // on both sides of the switch at -5
        assertEquals(ReferenceBackend.geluGrad(-5 + 1e-9, true), ReferenceBackend.geluGrad(-5 - 1e-9, true), 7.15e-6 * 1e-7);
    }

    /** At every SIMD level (the scalar tail elements too: 4099 values, not a multiple of a vector). */
    @ParameterizedTest(name = "{0}")
    @EnumSource(SimdLevel.class)
    void kernelSlopeIsRelativelyExactInTheTail(SimdLevel level) {
        SimdLevel before = CpuBackend.simdLevel();
        TestTensors.useLevel(level);
        try {
            assertTailExact(CpuBackend.get(), Memory.HOST, level.toString());
        } finally {
            CpuBackend.setSimdLevel(before);
        }
    }

    /**
     * The erf form's slope (the writing form, dy = 1) on {@code be}, its tensors in {@code memory}: vectors wholly left
     * of -4, and vectors whose lanes lie on both sides of it (x over [-13, 3] with a stride that mixes them), against the
     * reference: left of -4 relatively where the slope is a normal float with room, right of it within the rational
     * erf's absolute error. The CUDA backend's test calls it too.
     */
    public static void assertTailExact(Backend be, Memory memory, String where) {
        int n = 4099;
        float[] left = new float[n], mixed = new float[n], ones = new float[n];
        for (int i = 0; i < n; i++) {
            left[i] = -13f + 9f * i / n;              // [-13, -4)
            mixed[i] = -13f + 16f * ((i * 37) % n) / n; // [-13, 3), neighbours far apart
            ones[i] = 1f;
        }
        try (Arena arena = Arena.ofConfined()) {
            for (float[] xs : new float[][] {left, mixed}) {
                Tensor x = Tensor.of(arena, xs, 1, n).copy(arena, memory), dy = Tensor.of(arena, ones, 1, n).copy(arena, memory);
                Tensor dx = Tensor.zeros(arena, DType.F32, 1, n).copy(arena, memory);
                be.geluBackward(x, dy, dx, true, false);
                Tensor got = dx.copy(arena, Memory.HOST);
                for (int i = 0; i < n; i++) {
                    double want = ReferenceBackend.geluGrad(xs[i], true), g = got.getFloat(i);
                    if (xs[i] >= -4) assertEquals(want, g, 1e-6, "x " + xs[i] + " on " + where); // the rational erf's absolute error
                    else if (Math.abs(want) >= 1e-35) assertEquals(want, g, Math.abs(want) * 1e-5, "x " + xs[i] + " on " + where);
                    else assertTrue(g <= 0 && g >= want * 2, "x " + xs[i] + " on " + where + ": " + g + " against " + want);
                }
            }
        }
    }
}
