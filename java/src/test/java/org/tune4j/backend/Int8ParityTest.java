package org.tune4j.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.tune4j.backend.TestTensors.random;

import java.lang.foreign.Arena;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * What the int8 kernels owe beyond the op table's parity (OpTableCompressed): refusals by name, no saturation over a
 * long k at any level, zero rows, the error against f32 as the quantization noise predicts.
 */
class Int8ParityTest {
    private static final ReferenceBackend REF = new ReferenceBackend();
    private static final CpuBackend CPU = CpuBackend.get();
    static List<SimdLevel> levels() {
        return List.of(SimdLevel.values());
    }

    @AfterEach
    void restoreLevel() {
        CpuBackend.setSimdLevel(SimdLevel.AVX512);
    }

    private static void assertIntsEqual(Tensor expected, Tensor actual, String what) {
        for (long i = 0; i < expected.numel(); i++) {
            if (expected.getInt(i) != actual.getInt(i)) fail(what + ": element " + i + " expected " + expected.getInt(i) + " got " + actual.getInt(i));
        }
    }

    /** Layers sharing one quantized input refuse mismatched lists, widths and kinds by name (their parity: the op table's int8LinearShared). */
    @Test
    void layersSharingAnInputRefuseWhatDoesNotMatch() {
        SplittableRandom rng = new SplittableRandom(11);
        try (Arena arena = Arena.ofConfined()) {
            long m = 19, k = 132;
            Tensor x = random(arena, rng, m, k);
            long[] outs = {65, 7, 130};
            Int8Weights[] w = new Int8Weights[3];
            Tensor[] bias = new Tensor[3], shared = new Tensor[3];
            for (int l = 0; l < 3; l++) {
                w[l] = Int8Weights.quantize(arena, CPU, random(arena, rng, outs[l], k));
                shared[l] = Tensor.zeros(arena, DType.F32, m, outs[l]);
            }
            Tensor[] two = {shared[0], shared[1]};
            assertThrows(IllegalArgumentException.class, () -> CPU.int8LinearShared(x, w, bias, Activation.NONE, two));
            assertThrows(IllegalArgumentException.class, () -> CPU.int8LinearShared(x, new Int8Weights[0], new Tensor[0], Activation.NONE, new Tensor[0]));
            Int8Weights other = Int8Weights.quantize(arena, CPU, random(arena, rng, 7, k - 4));
            assertThrows(IllegalArgumentException.class, () -> CPU.int8LinearShared(x, new Int8Weights[] {w[0], other}, new Tensor[2], Activation.NONE, two));
            Tensor q24 = Tensor.zeros(arena, DType.I8, 7, k);
            for (long i = 0; i < 7 * k; i += 4) q24.setByte(i, (byte) 5); // one nonzero in each group of 4: 2:4
            Int8Weights twoFour = Int8Weights.ofTwoFour(arena, q24, Tensor.of(arena, new float[] {1, 1, 1, 1, 1, 1, 1}, 7));
            Tensor[] mixedOut = {shared[0], Tensor.zeros(arena, DType.F32, m, 7)};
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> CPU.int8LinearShared(x, new Int8Weights[] {w[0], twoFour}, new Tensor[2], Activation.NONE, mixedOut));
            assertTrue(e.getMessage().contains("2:4"), e.getMessage());
        }
    }

    @Test
    void weightsOfMinus128AreRefused() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor q = Tensor.zeros(arena, DType.I8, 3, 37), scales = Tensor.of(arena, new float[] {1, 1, 1}, 3);
            q.setByte(2 * 37 + 29, Byte.MIN_VALUE);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Int8Weights.of(arena, q, scales));
            assertTrue(e.getMessage().contains("q[2, 29] is -128"), e.getMessage());
            Tensor twoFour = Tensor.zeros(arena, DType.I8, 1, 4);
            twoFour.setByte(1, Byte.MIN_VALUE);
            assertThrows(IllegalArgumentException.class, () -> Int8Weights.ofTwoFour(arena, twoFour, Tensor.of(arena, new float[] {1}, 1)));
        }
    }

    @Test
    void twoFourPackingRefusesWhatItCannotRun() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor scales = Tensor.of(arena, new float[] {1f, 1f}, 2);
            byte[] values = {1, 2, 3, 0, 1, 0, 0, 1}; // row 0 keeps 3 of its 4
            Tensor q = Tensor.zeros(arena, DType.I8, 2, 4);
            for (int i = 0; i < 8; i++) q.setByte(i, values[i]);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> Int8Weights.ofTwoFour(arena, q, scales));
            assertTrue(e.getMessage().contains("not 2:4"), e.getMessage());
            assertThrows(IllegalArgumentException.class,
                    () -> Int8Weights.ofTwoFour(arena, Tensor.zeros(arena, DType.I8, 2, 6), scales), "k not a multiple of 4");
            q.setByte(1, (byte) 0); // row 0 now keeps 2 of 4
            Int8Weights w = Int8Weights.ofTwoFour(arena, q, scales);
            Tensor x = Tensor.zeros(arena, DType.F32, 1, 4), y = Tensor.zeros(arena, DType.F32, 1, 2);
            e = assertThrows(IllegalArgumentException.class,
                    () -> CPU.int8WeightOnlyLinear(x, w, null, Activation.NONE, y));
            assertTrue(e.getMessage().contains("2:4"), e.getMessage());
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("levels")
    void extremeValuesOverLongKDoNotSaturate(SimdLevel level) {
        // ±127 · ±127 over k = 4099: a path that saturated at int16 (vpmaddubsw) would be far off
        TestTensors.useLevel(level);
        long m = 7, n = 70, k = 4099;
        SplittableRandom rng = new SplittableRandom(99);
        try (Arena arena = Arena.ofConfined()) {
            Tensor wq = Tensor.zeros(arena, DType.I8, n, k), a = Tensor.zeros(arena, DType.I8, m, k);
            for (long i = 0; i < n * k; i++) wq.setByte(i, (byte) (rng.nextBoolean() ? 127 : -127));
            for (long i = 0; i < m * k; i++) a.setByte(i, (byte) (i % 3 == 0 ? -127 : 127));
            for (long p = 0; p < k; p++) {
                wq.setByte(p, (byte) 127);      // row 0 of w all 127 and row 0 of a all 127: the largest sum
                a.setByte(p, (byte) 127);
            }
            Int8Weights w = Int8Weights.of(arena, wq, Tensor.of(arena, new float[(int) n], n));
            Tensor cRef = Tensor.zeros(arena, DType.I32, m, n), cCpu = Tensor.zeros(arena, DType.I32, m, n);
            REF.int8Gemm(a, w, cRef);
            CPU.int8Gemm(a, w, cCpu);
            assertEquals(127 * 127 * (int) k, cCpu.getInt(0), "the largest sum");
            assertIntsEqual(cRef, cCpu, level + " long k");
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("levels")
    void zeroRowsHaveScaleZeroAndNoNaN(SimdLevel level) {
        TestTensors.useLevel(level);
        try (Arena arena = Arena.ofConfined()) {
            long m = 3, n = 5, k = 19;
            Tensor x = random(arena, new SplittableRandom(4), m, k);
            for (long p = 0; p < k; p++) x.setFloat(1, p, 0f); // row 1 is all zero
            Tensor q = Tensor.zeros(arena, DType.I8, m, k), s = Tensor.zeros(arena, DType.F32, m);
            CPU.quantizeRows(x, q, s);
            assertEquals(0f, s.getFloat(1));
            Int8Weights w = Int8Weights.quantize(arena, CPU, random(arena, new SplittableRandom(5), n, k));
            Tensor bias = Tensor.of(arena, new float[] {1, 2, 3, 4, 5}, n);
            Tensor y = Tensor.zeros(arena, DType.F32, m, n);
            CPU.int8Linear(x, w, bias, Activation.NONE, y);
            for (long j = 0; j < n; j++) assertEquals(bias.getFloat(j), y.getFloat(1, j), "a zero row gives the bias");
            for (float v : y.toFloatArray()) assertFalse(Float.isNaN(v));
        }
    }

    /**
     * On Gaussian data the int8 result is as close to f32 as the quantization step allows: with uniform
     * rounding noise of variance step²/12, E|δy_ij|² = s_x[i]²/12 · Σ_p w_jp² + s_w[j]²/12 · Σ_p x_ip².
     * The measured relative error must stay within 25% of that prediction (about 1e-2 at k = 512).
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("levels")
    void errorAgainstF32IsTheQuantizationNoise(SimdLevel level) {
        TestTensors.useLevel(level);
        long m = 16, n = 64, k = 512;
        SplittableRandom rng = new SplittableRandom(8);
        try (Arena arena = Arena.ofConfined()) {
            Tensor x = Tensor.zeros(arena, DType.F32, m, k), wf = Tensor.zeros(arena, DType.F32, n, k);
            for (long i = 0; i < m * k; i++) x.setFloat(i, (float) gaussian(rng));
            for (long i = 0; i < n * k; i++) wf.setFloat(i, (float) gaussian(rng));
            Int8Weights w = Int8Weights.quantize(arena, CPU, wf);
            Tensor xq = Tensor.zeros(arena, DType.I8, m, k), sx = Tensor.zeros(arena, DType.F32, m);
            CPU.quantizeRows(x, xq, sx);
            Tensor y8 = Tensor.zeros(arena, DType.F32, m, n), y32 = Tensor.zeros(arena, DType.F32, m, n);
            CPU.int8Linear(x, w, null, Activation.NONE, y8);
            CPU.gemm(false, true, 1f, x, wf, 0f, y32);
            double err = 0, norm = 0, predicted = 0;
            for (long i = 0; i < m; i++)
                for (long j = 0; j < n; j++) {
                    err += Math.pow(y8.getFloat(i, j) - y32.getFloat(i, j), 2);
                    norm += Math.pow(y32.getFloat(i, j), 2);
                    double wNorm = 0, xNorm = 0;
                    for (long p = 0; p < k; p++) {
                        wNorm += Math.pow(wf.getFloat(j, p), 2);
                        xNorm += Math.pow(x.getFloat(i, p), 2);
                    }
                    predicted += (Math.pow(sx.getFloat(i), 2) * wNorm + Math.pow(w.scales().getFloat(j), 2) * xNorm) / 12;
                }
            double rel = Math.sqrt(err / norm), expected = Math.sqrt(predicted / norm);
            assertTrue(expected > 0.005 && expected < 0.015, "predicted relative error " + expected);
            assertTrue(rel <= 1.25 * expected, "relative error " + rel + " against a predicted " + expected);
        }
    }

    private static double gaussian(SplittableRandom rng) {
        return Math.sqrt(-2 * Math.log(1 - rng.nextDouble())) * Math.cos(2 * Math.PI * rng.nextDouble());
    }
}
