package org.tune4j.backend;

import static org.tune4j.backend.TestTensors.assertBitwiseEqual;
import static org.tune4j.backend.TestTensors.copy;
import static org.tune4j.backend.TestTensors.mask;
import static org.tune4j.backend.TestTensors.random;

import java.lang.foreign.Arena;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/** Results are bitwise identical for 1, 2 and 3 threads, and from run to run, at each SIMD level. */
class DeterminismTest {
    private static final int[] THREADS = {1, 2, 3};

    static List<SimdLevel> levels() {
        return List.of(SimdLevel.values());
    }

    @AfterEach
    void restore() {
        CpuBackend.setSimdLevel(SimdLevel.AVX512);
        CpuBackend.setThreads(Runtime.getRuntime().availableProcessors());
        CpuBackend.setSpinMicros(200);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("levels")
    void gemmIsTheSameForAnyThreadCount(SimdLevel level) {
        TestTensors.useLevel(level);
        // {517, 130, 129}: taller than wide, split by rows. {150, 600, 1024}: A's rows 4 KiB apart (or A transposed), so not
        // read in place: on two threads and more it is packed once for every task (t4j_gemm_run_tiled), over three K
        // blocks and two row blocks, where one thread packs it block by block
        long[][] shapes = {{257, 300, 129}, {20, 700, 513}, {600, 20, 300}, {128, 512, 256}, {16, 700, 513}, {600, 16, 300}, {517, 130, 129},
            {150, 600, 1024}};
        try (Arena arena = Arena.ofConfined()) {
            for (long[] s : shapes) {
                for (int trans = 0; trans < 4; trans++) {
                    boolean ta = (trans & 1) != 0, tb = (trans & 2) != 0;
                    SplittableRandom rng = new SplittableRandom(s[0] + s[1] + s[2]);
                    Tensor a = ta ? random(arena, rng, s[2], s[0]) : random(arena, rng, s[0], s[2]);
                    Tensor b = tb ? random(arena, rng, s[1], s[2]) : random(arena, rng, s[2], s[1]);
                    Tensor first = null;
                    for (int threads : THREADS) {
                        for (int repeat = 0; repeat < 2; repeat++) {
                            CpuBackend.setThreads(threads);
                            Tensor c = Tensor.zeros(arena, DType.F32, s[0], s[1]);
                            CpuBackend.get().gemm(ta, tb, 1.25f, a, b, 0f, c);
                            if (first == null) first = c;
                            else assertBitwiseEqual(first, c, level + " " + threads + " threads, shape " + s[0] + "x" + s[1] + "x" + s[2]);
                        }
                    }
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("levels")
    void gemmIsTheSameForEitherRegisterTile(SimdLevel level) {
        // AVX-512 computes 128 x 384 with its 8 x 48 tile (12 x 32 would pad the last row tile) and 132 x 384 with
        // 12 x 32 (no padding): the first 128 rows of the second are the first product, bit for bit
        TestTensors.useLevel(level);
        try (Arena arena = Arena.ofConfined()) {
            for (int trans = 0; trans < 4; trans++) {
                boolean ta = (trans & 1) != 0, tb = (trans & 2) != 0;
                long m = 132, n = 384, k = 1000;
                SplittableRandom rng = new SplittableRandom(trans);
                Tensor a = random(arena, rng, m, k), b = tb ? random(arena, rng, n, k) : random(arena, rng, k, n);
                Tensor at = Tensor.zeros(arena, DType.F32, k, m); // a's transpose, for the TN and TT cases
                for (long i = 0; i < m; i++)
                    for (long p = 0; p < k; p++) at.setFloat(p * m + i, a.getFloat(i * k + p));
                Tensor first128 = Tensor.zeros(arena, DType.F32, 128, k), first128t = Tensor.zeros(arena, DType.F32, k, 128);
                first128.copyFrom(a.view(0, 0, 128, k));
                first128t.copyFrom(at.view(0, 0, k, 128));
                Tensor whole = Tensor.zeros(arena, DType.F32, m, n), part = Tensor.zeros(arena, DType.F32, 128, n);
                CpuBackend.get().gemm(ta, tb, 0.75f, ta ? at : a, b, 0f, whole);
                CpuBackend.get().gemm(ta, tb, 0.75f, ta ? first128t : first128, b, 0f, part);
                Tensor wholeFirst = Tensor.zeros(arena, DType.F32, 128, n);
                wholeFirst.copyFrom(whole.view(0, 0, 128, n));
                assertBitwiseEqual(wholeFirst, part, level + " transA=" + ta + " transB=" + tb);
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("levels")
    void loraIsTheSameForAnyThreadCount(SimdLevel level) {
        TestTensors.useLevel(level);
        long t = 97, dIn = 300, dOut = 257, r = 16;
        SplittableRandom rng = new SplittableRandom(42);
        try (Arena arena = Arena.ofConfined()) {
            Tensor x = random(arena, rng, t, dIn), w = random(arena, rng, dOut, dIn);
            Tensor a = random(arena, rng, r, dIn), b = random(arena, rng, dOut, r), g = random(arena, rng, t, dOut);
            Tensor mask = mask(arena, rng, t, dIn, 0.1);
            Tensor[] first = null;
            for (int threads : THREADS) {
                CpuBackend.setThreads(threads);
                Tensor h = Tensor.zeros(arena, DType.F32, t, r), y = Tensor.zeros(arena, DType.F32, t, dOut);
                Tensor dx = Tensor.zeros(arena, DType.F32, t, dIn), da = Tensor.zeros(arena, DType.F32, r, dIn);
                Tensor db = Tensor.zeros(arena, DType.F32, dOut, r);
                CpuBackend.get().loraForward(x, mask, w, null, a, b, 0.5f, h, y);
                CpuBackend.get().loraBackward(x, mask, w, a, b, 0.5f, h, g, dx, da, db);
                Tensor[] now = {h, y, dx, da, db};
                if (first == null) first = now;
                else for (int i = 0; i < now.length; i++) assertBitwiseEqual(first[i], now[i], level + " " + threads + " threads, output " + i);
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("levels")
    void int8LinearIsTheSameForAnyThreadCount(SimdLevel level) {
        TestTensors.useLevel(level);
        // rows quantized by the calling thread alone (1 x 384) and shared out among the threads (130 x 384, 128 x 1536)
        long[][] shapes = {{1, 70, 384}, {130, 70, 384}, {128, 384, 1536}};
        try (Arena arena = Arena.ofConfined()) {
            for (long[] s : shapes) {
                SplittableRandom rng = new SplittableRandom(s[0] * 7 + s[2]);
                Tensor q = Tensor.zeros(arena, DType.I8, s[1], s[2]);
                for (long i = 0; i < s[1] * s[2]; i++) q.setByte(i, (byte) (rng.nextInt(255) - 127));
                Int8Weights w = Int8Weights.of(arena, q, Tensor.of(arena, random(arena, rng, 1, s[1]).toFloatArray(), s[1]));
                Tensor x = random(arena, rng, s[0], s[2]), first = null;
                for (int threads : THREADS) {
                    CpuBackend.setThreads(threads);
                    Tensor y = Tensor.zeros(arena, DType.F32, s[0], s[1]);
                    CpuBackend.get().int8Linear(x, w, null, Activation.NONE, y);
                    if (first == null) first = y;
                    else assertBitwiseEqual(first, y, level + " " + threads + " threads, shape " + s[0] + "x" + s[1] + "x" + s[2]);
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("levels")
    void rowBroadcastsAndSumsOverRowsAreTheSameForAnyThreadCount(SimdLevel level) {
        TestTensors.useLevel(level);
        // large enough to be split: by rows (addRow, mulRow, the LayerNorm's dx) and by columns of 32 (the sums over
        // rows), with a last, narrower column block (197 = 6 x 32 + 5)
        long[][] shapes = {{3001, 197}, {1100, 1030}};
        try (Arena arena = Arena.ofConfined()) {
            for (long[] s : shapes) {
                long m = s[0], n = s[1];
                SplittableRandom rng = new SplittableRandom(m + n);
                Tensor x = random(arena, rng, m, n), dy = random(arena, rng, m, n), row = random(arena, rng, 1, n).reshape(n);
                Tensor gamma = random(arena, rng, 1, n).reshape(n), beta = random(arena, rng, 1, n).reshape(n);
                Tensor y = Tensor.zeros(arena, DType.F32, m, n), mean = Tensor.zeros(arena, DType.F32, m), rstd = Tensor.zeros(arena, DType.F32, m);
                CpuBackend.get().layerNormForward(x, gamma, beta, 1e-5f, y, mean, rstd);
                Tensor[] first = null;
                for (int run = 0; run < 2 * THREADS.length; run++) {
                    int threads = THREADS[run % THREADS.length];
                    CpuBackend.setThreads(threads);
                    CpuBackend.setSpinMicros(run < THREADS.length ? 200 : 0); // the pool's threads polling, then sleeping at once
                    Tensor added = copy(arena, x), multiplied = copy(arena, x);
                    CpuBackend.get().addRow(row, added);
                    CpuBackend.get().mulRow(row, multiplied);
                    Tensor sums = Tensor.zeros(arena, DType.F32, n), products = Tensor.zeros(arena, DType.F32, n);
                    CpuBackend.get().sumRows(x, sums);
                    CpuBackend.get().sumRowsProduct(x, dy, products);
                    Tensor dx = Tensor.zeros(arena, DType.F32, m, n), dgamma = Tensor.zeros(arena, DType.F32, n), dbeta = Tensor.zeros(arena, DType.F32, n);
                    CpuBackend.get().layerNormBackward(x, gamma, mean, rstd, dy, dx, dgamma, dbeta);
                    Tensor[] now = {added, multiplied, sums, products, dx, dgamma, dbeta};
                    if (first == null) first = now;
                    else for (int i = 0; i < now.length; i++) assertBitwiseEqual(first[i], now[i], level + " " + threads + " threads, " + m + "x" + n + ", output " + i);
                }
            }
        }
    }
}
