package org.tune4j.backend.cuda;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * What the CUDA test classes share: a backend on device 0 for the class, and where there is no GPU each
 * test skipped with the reason CUDA gave (never passed). TUNE4J_REQUIRE_GPU (set by bench/gpu/check.sh
 * on the GPU machine) makes a missing GPU a failure instead.
 */
abstract class GpuTest {
    static final CudaStatus STATUS = CudaStatus.probe();
    static CudaBackend gpu;

    @BeforeAll
    static void open() {
        if (!STATUS.available() && System.getenv("TUNE4J_REQUIRE_GPU") != null) throw new AssertionError("TUNE4J_REQUIRE_GPU is set: " + STATUS.message());
        if (STATUS.available()) gpu = CudaBackend.open();
    }

    /** Each test reports its own skip, with the reason, rather than the class vanishing from the report. */
    @BeforeEach
    void needsGpu() {
        Assumptions.assumeTrue(gpu != null, "SKIPPED, no GPU here: " + STATUS.message());
    }

    /** A host tensor of uniform values in [-halfWidth, halfWidth). */
    static Tensor random(Arena arena, SplittableRandom rng, double halfWidth, long... shape) {
        Tensor t = Tensor.zeros(arena, DType.F32, shape);
        for (long i = 0; i < t.numel(); i++) t.setFloat(i, (float) ((rng.nextDouble() * 2 - 1) * halfWidth));
        return t;
    }

    @AfterAll
    static void close() {
        if (gpu != null) gpu.close();
        gpu = null;
    }
}
