package org.tune4j.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * cuBLASLt's int8 GEMM (FFM descriptors and the timed search) against exact integer products. Its own
 * class, so that bench/gpu/check.sh runs it in its own JVM. Skipped with CUDA's reason where there is
 * no GPU; TUNE4J_REQUIRE_GPU makes that a failure.
 */
class CublasLtTest {
    private static final CudaStatus STATUS = CudaStatus.probe();
    private static CudaBackend gpu;

    @BeforeAll
    static void open() {
        if (!STATUS.available() && System.getenv("TUNE4J_REQUIRE_GPU") != null) throw new AssertionError("TUNE4J_REQUIRE_GPU is set: " + STATUS.message());
        if (STATUS.available()) gpu = CudaBackend.open();
    }

    @BeforeEach
    void needsGpu() {
        Assumptions.assumeTrue(gpu != null, "SKIPPED, no GPU here: " + STATUS.message());
    }

    @AfterAll
    static void close() {
        if (gpu != null) gpu.close();
    }

    private static Tensor back(Arena arena, DeviceTensor d) {
        Tensor t = Tensor.zeros(arena, DType.I32, d.shape());
        gpu.download(d, t);
        return t;
    }

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
            try (DeviceTensor a = gpu.zeros(DeviceTensor.Type.I8, 3, 6); DeviceTensor c = gpu.zeros(DeviceTensor.Type.I32, 3, 3)) {
                assertTrue(assertThrows(IllegalArgumentException.class, () -> lt.gemmInt8(a, a, c)).getMessage().contains("multiples of 4"));
            }
        }
    }

}
