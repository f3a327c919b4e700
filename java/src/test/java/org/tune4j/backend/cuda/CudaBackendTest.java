package org.tune4j.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.tune4j.backend.CpuBackend;
import org.tune4j.backend.CsrWeights;
import org.tune4j.backend.GeluTailTest;
import org.tune4j.backend.ReferenceBackend;
import org.tune4j.backend.TestTensors;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * What the CUDA backend has beyond the op table (BackendOpsTest): cuBLAS in every precision (f32, TF32, bf16,
 * int8 exact), int8 row quantization bit for bit, bf16 conversion, CSR × dense, CUDA graphs over tensors in its
 * memory, and bad arguments and an impossible allocation refused by name (skips: {@link GpuTest}).
 */
class CudaBackendTest extends GpuTest {
    private static final int[][] SHAPES = {{1, 1}, {3, 17}, {17, 33}, {33, 257}, {64, 1024}, {5, 3001}};

    private static Tensor dev(Arena arena, Tensor host) {
        return host.copy(arena, gpu.memory());
    }

    @Test
    void quantizationAndBf16MatchTheReference() {
        SplittableRandom rng = new SplittableRandom(3);
        ReferenceBackend ref = new ReferenceBackend();
        CudaKernels kernels = new CudaKernels(gpu);
        for (int[] s : SHAPES) {
            try (Arena arena = Arena.ofConfined()) {
                Tensor x = random(arena, rng, 2, s[0], s[1]), q = Tensor.zeros(arena, DType.I8, s[0], s[1]), sc = Tensor.zeros(arena, DType.F32, s[0]);
                ref.quantizeRows(x, q, sc);
                Tensor gq = gpu.memory().zeros(arena, DType.I8, s[0], s[1]), gs = gpu.memory().zeros(arena, DType.F32, s[0]);
                gpu.resetFallbacks();
                gpu.quantizeRows(dev(arena, x), gq, gs);
                assertTrue(gpu.fallbacks().isEmpty(), "quantizeRows ran on the CPU: " + gpu.fallbacks());
                Tensor q2 = gq.copy(arena, org.tune4j.tensor.Memory.HOST);
                for (long i = 0; i < q.numel(); i++) assertEquals(q.getByte(i), q2.getByte(i), "int8 value " + i + " of " + s[0] + "x" + s[1]);
                TestTensors.assertClose(sc, gs, 0, "scales");
                Tensor back = gpu.memory().zeros(arena, DType.F32, s[0], s[1]), want = Tensor.zeros(arena, DType.F32, s[0], s[1]);
                ref.dequantizeRows(q, sc, want);
                gpu.dequantizeRows(gq, gs, back);
                TestTensors.assertClose(want, back, 0, "dequantized rows");
                Tensor half = gpu.memory().zeros(arena, DType.BF16, s[0], s[1]), round = gpu.memory().zeros(arena, DType.F32, s[0], s[1]);
                kernels.toBf16(dev(arena, x), half);
                kernels.fromBf16(half, round);
                TestTensors.assertClose(x, round, 1.0 / 256, "bf16 round trip (8 bits of mantissa)");
            }
        }
    }

    @Test
    void csrTimesDenseMatchesTheReference() {
        SplittableRandom rng = new SplittableRandom(13);
        CpuBackend cpu = CpuBackend.get();
        ReferenceBackend ref = new ReferenceBackend();
        CudaKernels kernels = new CudaKernels(gpu);
        try (Arena arena = Arena.ofConfined()) {
            // partial row tiles, column strips and K chunks (64) of the tiled kernel
            for (int[] s : new int[][] {{37, 130, 77}, {150, 300, 260}, {1, 5, 1}, {70, 64, 129}}) {
                Tensor dense = random(arena, rng, 2, s[0], s[1]), mask = Tensor.zeros(arena, DType.I8, s[0], s[1]);
                cpu.magnitudeMask(dense, cpu.magnitudeThreshold(dense, Math.round(0.9 * dense.numel())), mask);
                cpu.applyMask(dense, mask);
                CsrWeights csr = CsrWeights.fromDense(arena, dense);
                Tensor b = random(arena, rng, 2, s[1], s[2]), c = Tensor.zeros(arena, DType.F32, s[0], s[2]);
                ref.gemm(false, false, 1f, dense, b, 0f, c);
                Tensor gc = gpu.memory().zeros(arena, DType.F32, s[0], s[2]);
                kernels.csrSpmm(kernels.upload(csr, arena), dev(arena, b), gc);
                TestTensors.assertClose(c, gc, 1e-4, "CSR x dense " + s[0] + "x" + s[1] + " x " + s[2]);
            }
        }
    }

    @Test
    void cublasGemmsMatchTheReference() {
        SplittableRandom rng = new SplittableRandom(4);
        ReferenceBackend ref = new ReferenceBackend();
        CudaKernels kernels = new CudaKernels(gpu);
        try (Cublas blas = Cublas.open(gpu); Arena arena = Arena.ofConfined()) {
            for (int[] s : new int[][] {{1, 1, 1}, {17, 33, 65}, {128, 257, 64}, {3, 1024, 7}}) {
                int m = s[0], n = s[1], k = s[2];
                Tensor a = random(arena, rng, 2, m, k), b = random(arena, rng, 2, n, k), c = Tensor.zeros(arena, DType.F32, m, n);
                ref.gemm(false, true, 1f, a, b, 0f, c);
                Tensor ga = dev(arena, a), gb = dev(arena, b), gc = gpu.memory().zeros(arena, DType.F32, m, n);
                blas.gemm(false, true, 1f, ga, gb, 0f, gc, Cublas.Precision.TF32);
                TestTensors.assertClose(c, gc, 2e-2 * Math.sqrt(k), "tf32 gemm");
                blas.gemm(false, true, 1f, ga, gb, 0f, gc, Cublas.Precision.BF16);
                TestTensors.assertClose(c, gc, 4e-2 * Math.sqrt(k), "f32 tensors through bf16 tensor cores");
                Tensor ha = gpu.memory().zeros(arena, DType.BF16, m, k), hb = gpu.memory().zeros(arena, DType.BF16, n, k);
                kernels.toBf16(ga, ha);
                kernels.toBf16(gb, hb);
                blas.gemm(false, true, 1f, ha, hb, 0f, gc, Cublas.Precision.F32);
                TestTensors.assertClose(c, gc, 4e-2 * Math.sqrt(k), "bf16 gemm, f32 accumulation");
            }
            int m = 33, n = 65, k = 128;
            Tensor a = Tensor.zeros(arena, DType.I8, m, k), b = Tensor.zeros(arena, DType.I8, n, k);
            for (long i = 0; i < a.numel(); i++) a.setByte(i, (byte) (rng.nextInt(255) - 127));
            for (long i = 0; i < b.numel(); i++) b.setByte(i, (byte) (rng.nextInt(255) - 127));
            Tensor gc = gpu.memory().zeros(arena, DType.I32, m, n);
            blas.gemmInt8(dev(arena, a), dev(arena, b), gc);
            Tensor c = gc.copy(arena, org.tune4j.tensor.Memory.HOST);
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++) {
                    int want = 0;
                    for (int p = 0; p < k; p++) want += a.getByte((long) i * k + p) * b.getByte((long) j * k + p);
                    assertEquals(want, c.getInt((long) i * n + j), "int8 gemm exact at " + i + "," + j);
                }
        }
    }

    @Test
    void graphsReplayTheRecordedWorkOnNewInputs() {
        SplittableRandom rng = new SplittableRandom(9);
        CpuBackend cpu = CpuBackend.get();
        try (Arena arena = Arena.ofConfined()) {
            Tensor first = random(arena, rng, 2, 3, 17), second = random(arena, rng, 2, 3, 17), twice = Tensor.zeros(arena, DType.F32, 3, 17), want = Tensor.zeros(arena, DType.F32, 3, 17);
            Tensor x = dev(arena, first), y = gpu.memory().zeros(arena, DType.F32, 3, 17), z = gpu.memory().zeros(arena, DType.F32, 3, 17);
            try (CudaGraph graph = CudaGraph.capture(gpu, () -> {
                gpu.add(x, x, y);
                gpu.geluForward(y, z, false);
            })) {
                x.copyFrom(second); // new input at the recorded address
                graph.launch();
                cpu.add(second, second, twice);
                cpu.geluForward(twice, want, false);
                TestTensors.assertClose(want, z, 1e-5, "gelu(2x) replayed on the new x");
            }
            Tensor host = Tensor.zeros(arena, DType.F32, 3, 17);
            IllegalStateException refused = assertThrows(IllegalStateException.class, () -> CudaGraph.capture(gpu, () -> host.copyFrom(x)));
            assertTrue(refused.getMessage().contains("CUDA graph"), refused.getMessage());
            gpu.add(x, x, y); // the stream runs work again after the failed recording
            TestTensors.assertClose(twice, y, 1e-6, "add after a failed recording");
        }
    }

    /** GELU's erf slope left of -4, relatively (GeluTailTest's check): Φ from erfcf, where 1 + erff cancels. */
    @Test
    void geluErfSlopeIsRelativelyExactInTheTail() {
        GeluTailTest.assertTailExact(gpu, gpu.memory(), "cuda");
    }

    @Test
    void badArgumentsAreRefusedByName() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor a = gpu.memory().zeros(arena, DType.F32, 3, 4), b = gpu.memory().zeros(arena, DType.F32, 4, 4);
            IllegalArgumentException sizes = assertThrows(IllegalArgumentException.class, () -> gpu.add(a, b, a));
            assertTrue(sizes.getMessage().contains("b"), sizes.getMessage());
            assertThrows(IllegalArgumentException.class, () -> gpu.adamwStep(a, a, a, a, 1f, 0.9f, 0.99f, 1e-8f, 0f, 0));
            Tensor labels = Tensor.zeros(arena, DType.I32, 3);
            labels.setInt(2, 4); // past the 4 classes: a kernel would read outside its row
            IllegalArgumentException label = assertThrows(IllegalArgumentException.class, () -> gpu.crossEntropyForward(a, labels, 0f, gpu.memory().zeros(arena, DType.F32, 3, 4)));
            assertTrue(label.getMessage().contains("labels[2]"), label.getMessage());
            IllegalArgumentException id = assertThrows(IllegalArgumentException.class, () -> gpu.gatherRowsAdd(labels, a, gpu.memory().zeros(arena, DType.F32, 3, 4)));
            assertTrue(id.getMessage().contains("ids[2]"), id.getMessage());
            IllegalArgumentException notDevice = assertThrows(IllegalArgumentException.class, () -> new CudaKernels(gpu).toBf16(Tensor.zeros(arena, DType.F32, 2), a));
            assertTrue(notDevice.getMessage().contains("cuda"), notDevice.getMessage());
        }
        try (Arena arena = Arena.ofConfined()) { // what the boundary fuzzer found with the CUDA backend, each refused as the CPU refuses it
            Tensor x = gpu.memory().zeros(arena, DType.F32, 3, 4), wide = gpu.memory().zeros(arena, DType.F32, 3, 6), view = wide.view(0, 1, 3, 4);
            Tensor vector = gpu.memory().zeros(arena, DType.F32, 4), one = gpu.memory().zeros(arena, DType.F32, 1, 1);
            assertThrows(IllegalArgumentException.class, () -> gpu.scale(1f, null), "a null tensor (was a NullPointerException)");
            assertThrows(IllegalArgumentException.class, () -> gpu.softmaxForward(null, x), "a null tensor");
            assertThrows(IllegalArgumentException.class, () -> gpu.scale(Float.NaN, x), "alpha NaN");
            assertThrows(IllegalArgumentException.class, () -> gpu.gemm(false, false, 1f, x, gpu.memory().zeros(arena, DType.F32, 4, 4), Float.POSITIVE_INFINITY, x),
                    "beta infinite");
            assertThrows(IllegalArgumentException.class, () -> gpu.adamwStep(x, x, x, x, 1e-3f, 1.5f, 0.999f, 1e-8f, 0f, 1), "beta1 past 1");
            assertThrows(IllegalArgumentException.class, () -> gpu.scale(2f, view), "a view an elementwise op refuses on the CPU");
            assertThrows(IllegalArgumentException.class, () -> gpu.lowRankAdd(view, gpu.memory().zeros(arena, DType.F32, 4, 4), 1f, x), "h a view");
            assertThrows(IllegalArgumentException.class, () -> gpu.loraBackward(x, null, gpu.memory().zeros(arena, DType.F32, 5, 4), gpu.memory().zeros(arena, DType.F32, 2, 4),
                    vector, 1f, gpu.memory().zeros(arena, DType.F32, 3, 2), gpu.memory().zeros(arena, DType.F32, 3, 5), null, gpu.memory().zeros(arena, DType.F32, 2, 4),
                    vector), "b a vector (was an ArrayIndexOutOfBoundsException)");
            assertThrows(IllegalArgumentException.class, () -> gpu.layerNormForward(x, gpu.memory().zeros(arena, DType.I8, 4), vector, 1e-5f, x,
                    gpu.memory().zeros(arena, DType.F32, 3), gpu.memory().zeros(arena, DType.F32, 3)), "gamma I8");
            Tensor g = gpu.memory().zeros(arena, DType.F32, 2, 2);
            gpu.clipGradNorm(new Tensor[] {g}, 1f, one); // a norm shaped [1, 1] was refused
            Tensor adv = Tensor.of(arena, new float[] {Float.NaN, 0.5f}, 2).copy(arena, gpu.memory()), zero = gpu.memory().zeros(arena, DType.F32, 2);
            gpu.pgdStep(adv, zero, Tensor.of(arena, new float[] {0.5f, 0.5f}, 2).copy(arena, gpu.memory()), 0.1f, 0.2f);
            assertTrue(Float.isNaN(adv.toFloatArray()[0]), "a NaN image stays NaN, as on the host (fminf dropped it)");
            Tensor index = Tensor.zeros(arena, DType.I32, 4), cols = gpu.memory().zeros(arena, DType.F32, 3, 4); // a host index is staged, as ids are
            index.setInt(0, 3);
            gpu.gatherColumns(x, index, cols); // was refused: "x, index and y must live in one memory"
            index.setInt(1, 4);
            IllegalArgumentException outside = assertThrows(IllegalArgumentException.class, () -> gpu.gatherColumns(x, index, cols));
            assertEquals("index[1] = 4 is outside [0, 4)", outside.getMessage());
        }
        Arena closed = Arena.ofConfined();
        Tensor gone = gpu.memory().zeros(closed, DType.F32, 2);
        closed.close();
        try (Arena arena = Arena.ofConfined()) {
            assertThrows(IllegalArgumentException.class, () -> gpu.memory().zeros(arena, DType.F32, 2).copyFrom(gone), "a freed device tensor");
        }
        long cached = gpu.allocator().cachedBytes();
        assertFalse(cached < 0);
        try (Arena arena = Arena.ofConfined()) {
            IllegalStateException oom = assertThrows(IllegalStateException.class, () -> gpu.memory().zeros(arena, DType.F32, 1L << 40));
            assertTrue(oom.getMessage().contains("out of memory"), oom.getMessage());
            // the refused allocation must not be reported again by the next kernel launch
            Tensor x = gpu.memory().zeros(arena, DType.F32, 1, 5), y = gpu.memory().zeros(arena, DType.F32, 1, 5);
            gpu.add(x, x, y);
            TestTensors.assertClose(Tensor.zeros(arena, DType.F32, 1, 5), y, 0, "add after a refused allocation");
        }
    }
}
