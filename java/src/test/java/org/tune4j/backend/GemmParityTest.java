package org.tune4j.backend;

import static org.tune4j.backend.TestTensors.assertClose;
import static org.tune4j.backend.TestTensors.random;
import static org.tune4j.backend.TestTensors.randomStrided;

import java.lang.foreign.Arena;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * The CPU's fused linear layer (GEMM, bias, tiles chosen by shape) against the reference's GEMM and bias, on any thread
 * count, on weights packed ahead and on packed weights that no longer fit the level or blocks. The GEMM itself, in every
 * transpose, beta 0 over NaN and an empty inner dimension, is the op table's (OpTableSequences.GEMM).
 */
class GemmParityTest {
    private static final ReferenceBackend REF = new ReferenceBackend();

    @AfterEach
    void restoreLevel() {
        CpuBackend.setSimdLevel(SimdLevel.AVX512);
    }

    /**
     * m, n, k of the fused linear layer: a GEMV and 4 rows (dot products), a narrow output (the skinny path), n below
     * one tile with m above it (computed transposed, the bias by rows), MiniLM's 128 x 384 (one K block) and its FFN
     * down projection (4 K blocks: the bias joins after the first), an empty inner dimension (y is the bias); for the
     * packed weights also two row blocks with two K blocks (the packed B read by each row block), 17 rows, one output; 8
     * and 5 outputs over many rows (the dot8 path, an odd last row, K with a tail).
     */
    private static final long[][] LINEAR_SHAPES = {{1, 300, 70}, {4, 257, 1030}, {300, 16, 100}, {97, 9, 40}, {128, 384, 384}, {128, 384, 1536}, {3, 5, 0},
        {150, 1060, 420}, {17, 1100, 70}, {40, 1, 33}, {301, 8, 390}, {33, 5, 47},
        // on two threads and more, a big task a thread and a tail of small ones (t4j_gemm_run_tiled): by columns, by rows
        {128, 1536, 384}, {1000, 384, 384}};

    static Stream<Arguments> linearCases() {
        return TestTensors.atEveryLevel(LINEAR_SHAPES);
    }

    @ParameterizedTest(name = "{0} m={1} n={2} k={3}")
    @MethodSource("linearCases")
    void linearMatchesTheReferencesGemmAndBiasOnAnyThreadCount(SimdLevel level, long m, long n, long k) {
        TestTensors.useLevel(level);
        SplittableRandom rng = new SplittableRandom(m * 7919 + n * 31 + k);
        try (Arena arena = Arena.ofConfined()) {
            Tensor x = randomStrided(arena, rng, m, k, 3), w = randomStrided(arena, rng, n, k, 2), bias = random(arena, rng, 1, n);
            PackedLinearWeights packed = PackedLinearWeights.pack(arena, w);
            double tol = 2e-6 * (k + 8);
            for (Tensor b : new Tensor[] {bias, null}) {
                String what = level + (b == null ? " no bias" : " bias");
                Tensor expected = Tensor.zeros(arena, DType.F32, m, n), one = randomStrided(arena, rng, m, n, 5), all = Tensor.zeros(arena, DType.F32, m, n);
                Tensor onePacked = randomStrided(arena, rng, m, n, 5), allPacked = Tensor.zeros(arena, DType.F32, m, n), refPacked = Tensor.zeros(arena, DType.F32, m, n);
                for (long i = 0; i < m && n > 0; i++) { // y is only written
                    one.setFloat(i, 0, Float.NaN);
                    onePacked.setFloat(i, 0, Float.NaN);
                }
                REF.linear(x, w, b, expected);
                REF.linearPacked(x, packed, b, refPacked);
                CpuBackend.setThreads(1);
                CpuBackend.get().linear(x, w, b, one);
                CpuBackend.get().linearPacked(x, packed, b, onePacked);
                CpuBackend.setThreads(Math.max(2, Runtime.getRuntime().availableProcessors()));
                CpuBackend.get().linear(x, w, b, all);
                CpuBackend.get().linearPacked(x, packed, b, allPacked);
                assertClose(expected, one, tol, what);
                TestTensors.assertBitwiseEqual(one, all, level + ": 1 thread and all");
                Tensor refStrided = randomStrided(arena, rng, m, n, 5); // the reference takes a strided y too, as the CPU does
                REF.linear(x, w, b, refStrided);
                assertClose(expected, refStrided, 0, level + " the reference into a strided y");
                // on the weights packed ahead: the reference's plain linear, and the CPU's bits where it tiles
                assertClose(expected, refPacked, 0, what + ": the reference on packed weights");
                assertClose(expected, onePacked, tol, what + ": packed");
                TestTensors.assertBitwiseEqual(onePacked, allPacked, what + ": packed, 1 thread and all");
                // AMX tiles' sums are f32-grade in other bits (LinearAmxTest checks them against double)
                if (!packed.onAmx(m) && ((m > 16 && n > 16) || k == 0)) TestTensors.assertBitwiseEqual(one, onePacked, what + ": packed and plain");
                org.junit.jupiter.api.Assertions.assertEquals(0, packed.fallbacks(), "calls that did not run on the packed weights");
            }
        } finally {
            CpuBackend.setThreads(Runtime.getRuntime().availableProcessors());
        }
    }

    /**
     * Weights packed at one SIMD level or K block and run at another take the plain linear: the same bits, not stale
     * panels; products on AMX tiles, which depend on no K block, stay on them.
     */
    @org.junit.jupiter.api.Test
    void packedWeightsOfAnotherLevelOrBlockFallBackToThePlainLinear() {
        SplittableRandom rng = new SplittableRandom(11);
        try (Arena arena = Arena.ofConfined()) {
            Tensor x = random(arena, rng, 64, 600), w = random(arena, rng, 96, 600), bias = random(arena, rng, 1, 96);
            PackedLinearWeights packed = PackedLinearWeights.pack(arena, w);
            SimdLevel packedAt = CpuBackend.simdLevel();
            int otherLevels = 0;
            try (org.tune4j.LogCapture log = new org.tune4j.LogCapture(PackedLinearWeights.class)) {
                for (SimdLevel other : SimdLevel.values()) {
                    if (CpuBackend.setSimdLevel(other) != packedAt) otherLevels++;
                    Tensor plain = Tensor.zeros(arena, DType.F32, 64, 96), got = Tensor.zeros(arena, DType.F32, 64, 96);
                    CpuBackend.get().linear(x, w, bias, plain);
                    CpuBackend.get().linearPacked(x, packed, bias, got);
                    if (packed.onAmx(64)) assertClose(plain, got, 2e-6 * 608, "packed for AMX tiles, run on them");
                    else TestTensors.assertBitwiseEqual(plain, got, "packed at the highest level, run at " + other);
                }
                // WARN: the packing no longer fits; on a CPU with AMX tiles, weights packed for them say so at DEBUG
                List<String> logged = log.at(packed.amx() ? ch.qos.logback.classic.Level.DEBUG : ch.qos.logback.classic.Level.WARN);
                org.junit.jupiter.api.Assertions.assertEquals(Math.min(otherLevels, 1), logged.size(), "the first fallback of these weights logged, no later one: " + logged);
                if (otherLevels > 0) {
                    String start = "weights of 96 x 600 packed for " + (packed.amx() ? "AMX tiles" : "another SIMD level");
                    org.junit.jupiter.api.Assertions.assertTrue(logged.getFirst().startsWith(start), logged.getFirst());
                }
            }
            org.junit.jupiter.api.Assertions.assertEquals(otherLevels, packed.fallbacks(), "one fallback a level other than the packed one");
            CpuBackend.setSimdLevel(SimdLevel.AVX512);
            GemmTuning.Choice before = GemmTuning.current();
            try {
                GemmTuning.set(new GemmTuning.Blocks(96, 96, 512), before.int8StreamTile(), "a test"); // 600 in 7 K blocks, not the packed ones
                long fallbacks = packed.fallbacks();
                Tensor plain = Tensor.zeros(arena, DType.F32, 64, 96), got = Tensor.zeros(arena, DType.F32, 64, 96);
                CpuBackend.get().linear(x, w, bias, plain);
                CpuBackend.get().linearPacked(x, packed, bias, got);
                if (packed.onAmx(64)) { // the AMX tiles depend on no K block: still run on them
                    assertClose(plain, got, 2e-6 * 608, "packed for AMX tiles, run on them at other K blocks");
                    org.junit.jupiter.api.Assertions.assertEquals(fallbacks, packed.fallbacks(), "the tiles at other K blocks");
                    Tensor few = x.view(0, 0, 16, 600), fewPlain = Tensor.zeros(arena, DType.F32, 16, 96), fewGot = Tensor.zeros(arena, DType.F32, 16, 96);
                    CpuBackend.get().linear(few, w, bias, fewPlain);
                    CpuBackend.get().linearPacked(few, packed, bias, fewGot);
                    TestTensors.assertBitwiseEqual(fewPlain, fewGot, "16 rows, on the slivers, packed at other K blocks");
                } else {
                    TestTensors.assertBitwiseEqual(plain, got, "packed at other K blocks");
                }
                org.junit.jupiter.api.Assertions.assertEquals(fallbacks + 1, packed.fallbacks(), "one fallback: the slivers' product at other K blocks");
            } finally {
                GemmTuning.set(before.blocks(), before.int8StreamTile(), before.source());
            }
        }
    }
}
