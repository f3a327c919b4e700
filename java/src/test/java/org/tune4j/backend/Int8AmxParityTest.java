package org.tune4j.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;
import static org.tune4j.backend.TestTensors.random;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * The dense int8 kernel on AMX tiles (quant_amx.c) against the same kernel on VNNI alone: the same bits, every
 * output, for batches on both sides of a 16-row block and of the 32-row call, k a multiple of 64 (AMX) and not (VNNI
 * throughout), partial panels, each epilogue, shared inputs, and any thread count; the int32 product against the
 * reference's. Runs where the CPU and the OS give AMX (an Intel Xeon from Sapphire Rapids on); elsewhere there is
 * nothing to compare, and each test says so as it is skipped.
 */
class Int8AmxParityTest {
    private static final CpuBackend CPU = CpuBackend.get();
    private static final long[] ROWS = {16, 17, 31, 32, 33, 48, 100, 192, 200, 385};
    private static final long[][] OUT_IN = {{64, 64}, {65, 128}, {130, 384}, {7, 1536}, {384, 100}, {64, 192}};

    @BeforeEach
    void needAmx() {
        CpuBackend.setSimdLevel(SimdLevel.AVX512);
        assumeTrue(CpuDescription.cpuFeatures().contains("amx_int8"), "this CPU or its OS gives no AMX tiles (cpu features: " + CpuDescription.cpuFeatures() + ")");
        assertTrue(CpuBackend.setInt8Amx(true));
    }

    @AfterEach
    void restore() {
        CpuBackend.setInt8Amx(true);
        CpuBackend.setThreads(Runtime.getRuntime().availableProcessors());
    }

    private static void assertSameBits(Tensor expected, Tensor actual, String what) {
        long at = expected.segment().mismatch(actual.segment());
        if (at >= 0) fail(what + ": first difference at byte " + at + " (element " + at / 4 + ")");
    }

    @Test
    void theSwitchTurnsAmxOffAndOn() {
        assertFalse(CpuBackend.setInt8Amx(false));
        assertFalse(CpuBackend.int8Amx());
        assertEquals("avx512-vnni", CpuBackend.int8KernelLabel());
        assertTrue(CpuBackend.setInt8Amx(true));
        assertEquals("avx512-amx", CpuBackend.int8KernelLabel());
        CpuBackend.setSimdLevel(SimdLevel.AVX2);
        assertFalse(CpuBackend.int8Amx(), "AMX belongs to the AVX-512 level's kernel");
    }

    @Test
    void linearGivesVnnisBitsForEveryShapeAndEpilogue() {
        SplittableRandom rng = new SplittableRandom(21);
        Activation[] acts = {Activation.NONE, Activation.RELU, Activation.GELU, Activation.GELU_ERF};
        int cases = 0;
        try (Arena arena = Arena.ofConfined()) {
            for (long[] nk : OUT_IN) {
                long n = nk[0], k = nk[1];
                Int8Weights w = Int8Weights.quantize(arena, CPU, random(arena, rng, n, k));
                Tensor bias = random(arena, rng, n);
                for (long m : ROWS) {
                    Tensor x = random(arena, rng, m, k);
                    Activation act = acts[cases % acts.length];
                    Tensor withBias = cases % 2 == 0 ? bias : null;
                    Tensor amx = Tensor.zeros(arena, DType.F32, m, n), vnni = Tensor.zeros(arena, DType.F32, m, n);
                    CpuBackend.setInt8Amx(true);
                    CPU.int8Linear(x, w, withBias, act, amx);
                    CpuBackend.setInt8Amx(false);
                    CPU.int8Linear(x, w, withBias, act, vnni);
                    assertSameBits(vnni, amx, m + " x " + n + " x " + k + " " + act + (withBias != null ? " with bias" : ""));
                    cases++;
                }
            }
        }
        assertEquals(ROWS.length * OUT_IN.length, cases);
    }

    @Test
    void theInt32ProductIsTheReferences() {
        SplittableRandom rng = new SplittableRandom(5);
        ReferenceBackend ref = new ReferenceBackend();
        try (Arena arena = Arena.ofConfined()) {
            long m = 77, n = 130, k = 4096; // ±127 over a long k: no saturation on the tiles either
            Tensor a = Tensor.zeros(arena, DType.I8, m, k), wq = Tensor.zeros(arena, DType.I8, n, k);
            for (long i = 0; i < m * k; i++) a.setByte(i, (byte) (rng.nextBoolean() ? 127 : -127));
            for (long i = 0; i < n * k; i++) wq.setByte(i, (byte) (rng.nextInt(255) - 127));
            for (long p = 0; p < k; p++) {
                a.setByte(p, (byte) 127);
                wq.setByte(p, (byte) 127);
            }
            Int8Weights w = Int8Weights.of(arena, wq, Tensor.of(arena, new float[(int) n], n));
            Tensor expected = Tensor.zeros(arena, DType.I32, m, n), actual = Tensor.zeros(arena, DType.I32, m, n);
            ref.int8Gemm(a, w, expected);
            CPU.int8Gemm(a, w, actual);
            assertEquals(127 * 127 * (int) k, actual.getInt(0), "the largest sum");
            assertSameBits(expected, actual, "int8 GEMM on AMX against the reference");
        }
    }

    @Test
    void layersSharingAnInputAndEveryThreadCountGiveTheSameBits() {
        SplittableRandom rng = new SplittableRandom(8);
        try (Arena arena = Arena.ofConfined()) {
            long m = 128, k = 384;
            long[] outs = {384, 65, 1536};
            Tensor x = random(arena, rng, m, k);
            Int8Weights[] w = new Int8Weights[outs.length];
            Tensor[] bias = new Tensor[outs.length], shared = new Tensor[outs.length];
            for (int l = 0; l < outs.length; l++) {
                w[l] = Int8Weights.quantize(arena, CPU, random(arena, rng, outs[l], k));
                bias[l] = random(arena, rng, outs[l]);
                shared[l] = Tensor.zeros(arena, DType.F32, m, outs[l]);
            }
            CpuBackend.setThreads(2);
            CPU.int8LinearShared(x, w, bias, Activation.NONE, shared);
            for (int l = 0; l < outs.length; l++) {
                for (int threads : new int[] {1, 2}) {
                    CpuBackend.setThreads(threads);
                    for (boolean amx : new boolean[] {true, false}) {
                        CpuBackend.setInt8Amx(amx);
                        Tensor alone = Tensor.zeros(arena, DType.F32, m, outs[l]);
                        CPU.int8Linear(x, w[l], bias[l], Activation.NONE, alone);
                        assertSameBits(shared[l], alone, "layer " + l + " alone, " + threads + " threads, AMX " + amx);
                    }
                }
            }
        }
    }
}
