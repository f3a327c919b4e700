package org.tune4j.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * cuBLASLt's int8 GEMM (FFM descriptors and the timed search) against exact integer products. Its own
 * class, so that bench/gpu/check.sh runs it in its own JVM (skips: {@link GpuTest}).
 */
class CublasLtTest extends GpuTest {

    @Test
    void int8IsExactAndKeepsItsSearch() {
        SplittableRandom rng = new SplittableRandom(6);
        try (CublasLt lt = CublasLt.open(gpu); Arena arena = Arena.ofConfined()) {
            for (int[] s : new int[][] {{33, 64, 128}, {1, 4, 4}, {130, 260, 516}}) {
                int m = s[0], n = s[1], k = s[2];
                Tensor a = Tensor.zeros(arena, DType.I8, m, k), b = Tensor.zeros(arena, DType.I8, n, k);
                for (long i = 0; i < a.numel(); i++) a.setByte(i, (byte) (rng.nextInt(255) - 127));
                for (long i = 0; i < b.numel(); i++) b.setByte(i, (byte) (rng.nextInt(255) - 127));
                {
                    Tensor ga = a.copy(arena, gpu.memory()), gb = b.copy(arena, gpu.memory()), gc = gpu.memory().zeros(arena, DType.I32, m, n);
                    lt.gemmInt8(ga, gb, gc);
                    lt.gemmInt8(ga, gb, gc); // the cached plan
                    Tensor c = gc.copy(arena, org.tune4j.tensor.Memory.HOST);
                    for (int i = 0; i < m; i++)
                        for (int j = 0; j < n; j++) {
                            int want = 0;
                            for (int p = 0; p < k; p++) want += a.getByte((long) i * k + p) * b.getByte((long) j * k + p);
                            assertEquals(want, c.getInt((long) i * n + j), "cuBLASLt int8 exact at " + i + "," + j + " of " + m + "x" + n + "x" + k);
                        }
                }
                CublasLt.Search search = lt.search(m, n, k).orElseThrow();
                assertFalse(search.candidates().isEmpty(), "candidates tried");
                assertTrue(search.best().ms() <= search.first().ms() || Double.isNaN(search.first().ms()), "the kept algorithm is the fastest tried");
            }
            int8LinearMatchesF32(lt, arena, rng);
            {
                Tensor a = gpu.memory().zeros(arena, DType.I8, 3, 6), c = gpu.memory().zeros(arena, DType.I32, 3, 3);
                assertTrue(assertThrows(IllegalArgumentException.class, () -> lt.gemmInt8(a, a, c)).getMessage().contains("multiples of 4"));
            }
        }
    }


    /**
     * The int8 linear end to end on the device: rows of x and of W quantized, the exact int32 product,
     * the dequantizing epilogue with a bias; against the f32 product, within the quantization noise
     * (each operand rounded to 1/254 of its row's absmax), and dequantizeRows against the scales.
     */
    private static void int8LinearMatchesF32(CublasLt lt, Arena arena, SplittableRandom rng) {
        int m = 37, n = 68, k = 260;
        Tensor x = Tensor.zeros(arena, DType.F32, m, k), w = Tensor.zeros(arena, DType.F32, n, k), bias = Tensor.zeros(arena, DType.F32, n);
        for (long i = 0; i < x.numel(); i++) x.setFloat(i, (float) rng.nextGaussian());
        for (long i = 0; i < w.numel(); i++) w.setFloat(i, (float) rng.nextGaussian());
        for (long i = 0; i < n; i++) bias.setFloat(i, (float) rng.nextGaussian());
        {
            org.tune4j.tensor.Memory d = gpu.memory();
            Tensor gx = x.copy(arena, d), gw = w.copy(arena, d), gbias = bias.copy(arena, d), qx = d.zeros(arena, DType.I8, m, k), qw = d.zeros(arena, DType.I8, n, k);
            Tensor sx = d.zeros(arena, DType.F32, m), sw = d.zeros(arena, DType.F32, n), acc = d.zeros(arena, DType.I32, m, n), y = d.zeros(arena, DType.F32, m, n);
            Tensor xr = d.zeros(arena, DType.F32, m, k);
            gpu.quantizeRows(gx, qx, sx);
            gpu.quantizeRows(gw, qw, sw);
            lt.gemmInt8(qx, qw, acc);
            new CudaKernels(gpu).dequantizeGemm(acc, sx, sw, gbias, y);
            Tensor got = Tensor.zeros(arena, DType.F32, m, n);
            got.copyFrom(y);
            double err = 0, norm = 0;
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++) {
                    double want = bias.getFloat(j);
                    for (int p = 0; p < k; p++) want += (double) x.getFloat((long) i * k + p) * w.getFloat((long) j * k + p);
                    err += Math.pow(got.getFloat((long) i * n + j) - want, 2);
                    norm += want * want;
                }
            assertTrue(Math.sqrt(err / norm) < 2e-2, "int8 linear relative error " + Math.sqrt(err / norm));
            gpu.dequantizeRows(qx, sx, xr);
            Tensor back = Tensor.zeros(arena, DType.F32, m, k), scales = Tensor.zeros(arena, DType.F32, m);
            back.copyFrom(xr);
            scales.copyFrom(sx);
            for (long i = 0; i < x.numel(); i++) {
                float s = scales.getFloat(i / k);
                assertEquals(x.getFloat(i), back.getFloat(i), s / 2 + 1e-6f, "dequantized x within half a step at " + i);
            }
        }
    }
}
