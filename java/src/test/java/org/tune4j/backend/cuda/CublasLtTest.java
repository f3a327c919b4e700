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
                try (DeviceTensor ga = gpu.upload(a); DeviceTensor gb = gpu.upload(b); DeviceTensor gc = gpu.empty(DeviceTensor.Type.I32, m, n)) {
                    lt.gemmInt8(ga, gb, gc);
                    lt.gemmInt8(ga, gb, gc); // the cached plan
                    Tensor c = back(arena, gc);
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
            try (DeviceTensor a = gpu.zeros(DeviceTensor.Type.I8, 3, 6); DeviceTensor c = gpu.zeros(DeviceTensor.Type.I32, 3, 3)) {
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
        try (DeviceTensor gx = gpu.upload(x); DeviceTensor gw = gpu.upload(w); DeviceTensor gbias = gpu.upload(bias); DeviceTensor qx = gpu.empty(DeviceTensor.Type.I8, m, k);
                DeviceTensor qw = gpu.empty(DeviceTensor.Type.I8, n, k); DeviceTensor sx = gpu.empty(DeviceTensor.Type.F32, m); DeviceTensor sw = gpu.empty(DeviceTensor.Type.F32, n);
                DeviceTensor acc = gpu.empty(DeviceTensor.Type.I32, m, n); DeviceTensor y = gpu.empty(DeviceTensor.Type.F32, m, n);
                DeviceTensor xr = gpu.empty(DeviceTensor.Type.F32, m, k)) {
            gpu.quantizeRows(gx, qx, sx);
            gpu.quantizeRows(gw, qw, sw);
            lt.gemmInt8(qx, qw, acc);
            gpu.dequantizeGemm(acc, sx, sw, gbias, y);
            Tensor got = Tensor.zeros(arena, DType.F32, m, n);
            gpu.download(y, got);
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
            gpu.download(xr, back);
            gpu.download(sx, scales);
            for (long i = 0; i < x.numel(); i++) {
                float s = scales.getFloat(i / k);
                assertEquals(x.getFloat(i), back.getFloat(i), s / 2 + 1e-6f, "dequantized x within half a step at " + i);
            }
        }
    }
}
