package org.tune4j.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.tune4j.backend.TestTensors.assertBitwiseEqual;
import static org.tune4j.backend.TestTensors.assertClose;
import static org.tune4j.backend.TestTensors.copy;
import static org.tune4j.backend.TestTensors.random;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/** The training-step ops against ReferenceBackend at every SIMD level, on odd sizes. */
class OpsParityTest {
    private static final ReferenceBackend REF = new ReferenceBackend();
    private static final CpuBackend CPU = CpuBackend.get();
    private static final long[][] SHAPES = {{1, 1}, {1, 17}, {3, 33}, {17, 3}, {33, 257}, {257, 10}, {5, 1000}};

    static Stream<Arguments> cases() {
        return TestTensors.atEveryLevel(SHAPES);
    }

    @AfterEach
    void restore() {
        CpuBackend.setSimdLevel(SimdLevel.AVX512);
        CpuBackend.setThreads(Runtime.getRuntime().availableProcessors());
    }

    private static Tensor labels(Arena arena, SplittableRandom rng, long m, long n) {
        Tensor t = Tensor.zeros(arena, DType.I32, m);
        for (long i = 0; i < m; i++) t.setInt(i, rng.nextInt((int) n));
        return t;
    }

    @ParameterizedTest(name = "{0} m={1} n={2}")
    @MethodSource("cases")
    void elementwiseAndRowOpsMatchReference(SimdLevel level, long m, long n) {
        TestTensors.useLevel(level);
        SplittableRandom rng = new SplittableRandom(m * 1000 + n);
        double tol = 2e-6 * (n + 8);
        try (Arena arena = Arena.ofConfined()) {
            Tensor a = random(arena, rng, m, n), b = random(arena, rng, m, n);
            Tensor yr = Tensor.zeros(arena, DType.F32, m, n), yc = Tensor.zeros(arena, DType.F32, m, n);
            REF.add(a, b, yr);
            CPU.add(a, b, yc);
            assertClose(yr, yc, 0, level + " add");
            REF.axpy(-0.5f, a, yr);
            CPU.axpy(-0.5f, a, yc);
            assertClose(yr, yc, 1e-7, level + " axpy");
            REF.scale(1.5f, yr);
            CPU.scale(1.5f, yc);
            assertClose(yr, yc, 1e-7, level + " scale");
            Tensor row = Tensor.of(arena, random(arena, rng, 1, n).toFloatArray(), n);
            REF.addRow(row, yr);
            CPU.addRow(row, yc);
            assertClose(yr, yc, 1e-6, level + " addRow");
            for (int r : new int[] {1, 3, 8}) { // the rank-r update, into a view of y with a row stride beyond n
                Tensor h = random(arena, rng, m, r), bt = random(arena, rng, r, n);
                Tensor wr = Tensor.zeros(arena, DType.F32, m, n + 5), wc = Tensor.zeros(arena, DType.F32, m, n + 5);
                wr.view(0, 0, m, n).copyFrom(yr);
                wc.view(0, 0, m, n).copyFrom(yc);
                REF.lowRankAdd(h, bt, 0.75f, wr.view(0, 0, m, n));
                CPU.lowRankAdd(h, bt, 0.75f, wc.view(0, 0, m, n));
                assertClose(wr, wc, 2e-6 * (r + 8), level + " lowRankAdd r=" + r);
            }
            Tensor sr = Tensor.of(arena, random(arena, rng, 1, n).toFloatArray(), n), sc = copy(arena, sr);
            REF.sumRows(a, sr);
            CPU.sumRows(a, sc);
            assertClose(sr, sc, 2e-6 * (m + 8), level + " sumRows");
            assertEquals(REF.sumSquares(a), CPU.sumSquares(a), 1e-5 * (1 + REF.sumSquares(a)), level + " sumSquares");
            REF.sumRowsProduct(a, b, sr);
            CPU.sumRowsProduct(a, b, sc);
            assertClose(sr, sc, 2e-6 * (m + 8), level + " sumRowsProduct");
            Tensor qr = Tensor.zeros(arena, DType.F32, m), qc = Tensor.zeros(arena, DType.F32, m);
            REF.rowSquares(a, qr);
            CPU.rowSquares(a, qc);
            assertClose(qr, qc, 2e-6 * (n + 8), level + " rowSquares");

            for (boolean exact : new boolean[] {false, true}) {
                REF.geluForward(a, yr, exact);
                CPU.geluForward(a, yc, exact);
                assertClose(yr, yc, 2e-6, level + " gelu exact=" + exact);
                Tensor dr = copy(arena, b), dc = copy(arena, b);
                REF.geluBackward(a, b, dr, exact);
                CPU.geluBackward(a, b, dc, exact);
                assertClose(dr, dc, 2e-6, level + " gelu backward exact=" + exact);
            }
            REF.mulRow(row, yr);
            CPU.mulRow(row, yc);
            assertClose(yr, yc, 1e-6, level + " mulRow");
            REF.reluForward(a, yr);
            CPU.reluForward(a, yc);
            assertClose(yr, yc, 0, level + " relu");
            Tensor drr = copy(arena, b), drc = copy(arena, b);
            REF.reluBackward(a, b, drr);
            CPU.reluBackward(a, b, drc);
            assertClose(drr, drc, 0, level + " relu backward");
            REF.logSoftmaxForward(a, yr);
            CPU.logSoftmaxForward(a, yc);
            assertClose(yr, yc, 2e-6, level + " logSoftmax");
            Tensor dlr = copy(arena, b), dlc = copy(arena, b);
            REF.logSoftmaxBackward(yr, a, dlr);
            CPU.logSoftmaxBackward(yr, a, dlc);
            assertClose(dlr, dlc, tol, level + " logSoftmax backward");
            REF.softmaxForward(a, yr);
            CPU.softmaxForward(a, yc);
            assertClose(yr, yc, 2e-6, level + " softmax");
            Tensor dsr = copy(arena, b), dsc = copy(arena, b);
            REF.softmaxBackward(yr, a, dsr);
            CPU.softmaxBackward(yr, a, dsc);
            assertClose(dsr, dsc, tol, level + " softmax backward");

            Tensor gamma = Tensor.of(arena, random(arena, rng, 1, n).toFloatArray(), n), beta = Tensor.of(arena, random(arena, rng, 1, n).toFloatArray(), n);
            Tensor meanR = Tensor.zeros(arena, DType.F32, m), rstdR = Tensor.zeros(arena, DType.F32, m);
            Tensor meanC = Tensor.zeros(arena, DType.F32, m), rstdC = Tensor.zeros(arena, DType.F32, m);
            REF.layerNormForward(a, gamma, beta, 1e-5f, yr, meanR, rstdR);
            CPU.layerNormForward(a, gamma, beta, 1e-5f, yc, meanC, rstdC);
            assertClose(yr, yc, 5e-5 * Math.sqrt(n), level + " layerNorm");
            assertClose(rstdR, rstdC, 5e-5, level + " rstd");
            // LayerNorm of a sum: the CPU's fused op gives the bits of its add then LayerNorm, in place over either input too
            Tensor sum = Tensor.zeros(arena, DType.F32, m, n), sep = Tensor.zeros(arena, DType.F32, m, n), fused = Tensor.zeros(arena, DType.F32, m, n);
            Tensor meanS = Tensor.zeros(arena, DType.F32, m), rstdS = Tensor.zeros(arena, DType.F32, m), meanF = Tensor.zeros(arena, DType.F32, m), rstdF = Tensor.zeros(arena, DType.F32, m);
            CPU.add(a, b, sum);
            CPU.layerNormForward(sum, gamma, beta, 1e-5f, sep, meanS, rstdS);
            CPU.addLayerNormForward(a, b, gamma, beta, 1e-5f, fused, meanF, rstdF);
            assertBitwiseEqual(sep, fused, level + " add + layerNorm");
            assertBitwiseEqual(rstdS, rstdF, level + " add + layerNorm rstd");
            Tensor inA = copy(arena, a), inB = copy(arena, b);
            CPU.addLayerNormForward(inA, b, gamma, beta, 1e-5f, inA, meanF, rstdF);
            CPU.addLayerNormForward(a, inB, gamma, beta, 1e-5f, inB, meanF, rstdF);
            assertBitwiseEqual(sep, inA, level + " add + layerNorm into x");
            assertBitwiseEqual(sep, inB, level + " add + layerNorm into r");
            Tensor refFused = Tensor.zeros(arena, DType.F32, m, n);
            REF.addLayerNormForward(a, b, gamma, beta, 1e-5f, refFused, meanR, rstdR);
            assertClose(refFused, fused, 5e-5 * Math.sqrt(n), level + " add + layerNorm against the reference");
            REF.layerNormForward(a, gamma, beta, 1e-5f, yr, meanR, rstdR);
            Tensor dxr = copy(arena, b), dxc = copy(arena, b), dgr = copy(arena, gamma), dgc = copy(arena, gamma), dbr = copy(arena, beta), dbc = copy(arena, beta);
            REF.layerNormBackward(a, gamma, meanR, rstdR, b, dxr, dgr, dbr);
            CPU.layerNormBackward(a, gamma, meanR, rstdR, b, dxc, dgc, dbc);
            assertClose(dxr, dxc, 1e-4 * Math.sqrt(n), level + " layerNorm dx");
            assertClose(dgr, dgc, 2e-6 * (m + 8), level + " layerNorm dgamma");
            assertClose(dbr, dbc, 2e-6 * (m + 8), level + " layerNorm dbeta");

            Tensor lab = labels(arena, rng, m, n);
            for (float smoothing : new float[] {0f, 0.1f}) {
                Tensor pr = Tensor.zeros(arena, DType.F32, m, n), pc = Tensor.zeros(arena, DType.F32, m, n);
                float lr = REF.crossEntropyForward(a, lab, smoothing, pr), lc = CPU.crossEntropyForward(a, lab, smoothing, pc);
                assertEquals(lr, lc, 1e-5 * (1 + Math.abs(lr)), level + " cross-entropy");
                assertClose(pr, pc, 2e-6, level + " probs");
                Tensor gr = copy(arena, b), gc = copy(arena, b);
                REF.crossEntropyBackward(pr, lab, smoothing, 2f, gr);
                CPU.crossEntropyBackward(pr, lab, smoothing, 2f, gc);
                assertClose(gr, gc, 1e-6, level + " cross-entropy backward");
            }

            Tensor pr = copy(arena, a), pc = copy(arena, a), g = b;
            Tensor mr = Tensor.zeros(arena, DType.F32, m, n), vr = Tensor.zeros(arena, DType.F32, m, n), mc = copy(arena, mr), vc = copy(arena, vr);
            for (long step = 1; step <= 3; step++) {
                REF.adamwStep(pr, g, mr, vr, 1e-2f, 0.9f, 0.999f, 1e-8f, 0.01f, step);
                CPU.adamwStep(pc, g, mc, vc, 1e-2f, 0.9f, 0.999f, 1e-8f, 0.01f, step);
            }
            assertClose(pr, pc, 1e-6, level + " adamw");
            Tensor br = Tensor.zeros(arena, DType.F32, m, n), bc = copy(arena, br);
            for (int step = 0; step < 3; step++) {
                REF.sgdStep(pr, g, br, 0.1f, 0.9f, 0f, 1e-4f, step == 1, step == 0);
                CPU.sgdStep(pc, g, bc, 0.1f, 0.9f, 0f, 1e-4f, step == 1, step == 0);
            }
            assertClose(pr, pc, 1e-5, level + " sgd");
        }
    }

    static Stream<Arguments> attentionCases() {
        List<Arguments> out = new ArrayList<>();
        // the ViT's (17 tokens, heads of 32); heads wider than a vector with a tail; a head too large for
        // the kernel's Kᵀ on the stack (130 x 80 padded keys), which takes a buffer of its own; enough ViT pairs to
        // be split between threads 8 to a task (37 x 3: the last task holds 7); BERT-base's heads of 64 at 260 tokens
        int[][] shapes = {{1, 1, 1, 1}, {2, 3, 5, 4}, {3, 4, 17, 8}, {2, 2, 33, 3}, {2, 4, 17, 32}, {1, 2, 7, 37}, {1, 1, 70, 130}, {2, 3, 128, 32},
                {64, 4, 17, 32}, {37, 3, 17, 32}, {1, 2, 260, 64}};
        for (SimdLevel level : SimdLevel.values())
            for (int[] s : shapes) out.add(Arguments.of(level, s[0], s[1], s[2], s[3]));
        return out.stream();
    }

    @ParameterizedTest(name = "{0} batch={1} heads={2} seq={3} dh={4}")
    @MethodSource("attentionCases")
    void attentionMatchesReferenceAndIsDeterministic(SimdLevel level, int batch, int heads, int seq, int dh) {
        TestTensors.useLevel(level);
        SplittableRandom rng = new SplittableRandom(batch * 100 + heads * 10 + seq + dh);
        long rows = (long) batch * seq, d = (long) heads * dh;
        try (Arena arena = Arena.ofConfined()) {
            // q, k, v cut from one fused [rows, 3d] projection, as a transformer makes them
            Tensor qkv = random(arena, rng, rows, 3 * d), dqkvR = random(arena, rng, rows, 3 * d), dqkvC = copy(arena, dqkvR);
            Tensor q = qkv.view(0, 0, rows, d), k = qkv.view(0, d, rows, d), v = qkv.view(0, 2 * d, rows, d);
            float scale = (float) (1 / Math.sqrt(dh));
            Tensor pR = Tensor.zeros(arena, DType.F32, (long) batch * heads * seq * seq), pC = copy(arena, pR);
            Tensor oR = Tensor.zeros(arena, DType.F32, rows, d), oC = copy(arena, oR);
            // a padding mask first (sequence b keeps its first lengths[b] keys, the last one all of them), then none
            Tensor lengths = Tensor.zeros(arena, DType.I32, batch);
            for (int b = 0; b < batch; b++) lengths.setInt(b, b == batch - 1 ? seq : 1 + rng.nextInt(seq));
            REF.attentionForward(batch, heads, q, k, v, scale, lengths, pR, oR);
            CPU.attentionForward(batch, heads, q, k, v, scale, lengths, pC, oC);
            assertClose(pR, pC, 2e-6, level + " masked probs");
            assertClose(oR, oC, 2e-6 * (seq + 8), level + " masked out");
            for (int b = 0; b < batch; b++)
                for (long e = (long) b * heads * seq * seq; e < (long) (b + 1) * heads * seq * seq; e++)
                    if (e % seq >= lengths.getInt(b)) assertEquals(0f, pC.getFloat(e), level + " a padded key's probability");
            REF.attentionForward(batch, heads, q, k, v, scale, null, pR, oR);
            CPU.attentionForward(batch, heads, q, k, v, scale, null, pC, oC);
            assertClose(pR, pC, 2e-6, level + " probs");
            assertClose(oR, oC, 2e-6 * (seq + 8), level + " out");
            Tensor dout = random(arena, rng, rows, d);
            REF.attentionBackward(batch, heads, q, k, v, scale, pR, dout, dqkvR.view(0, 0, rows, d), dqkvR.view(0, d, rows, d), dqkvR.view(0, 2 * d, rows, d));
            CPU.attentionBackward(batch, heads, q, k, v, scale, pR, dout, dqkvC.view(0, 0, rows, d), dqkvC.view(0, d, rows, d), dqkvC.view(0, 2 * d, rows, d));
            assertClose(dqkvR, dqkvC, 2e-6 * (seq + dh + 8), level + " dq dk dv");
            // the same bits for 1, 2 and 3 threads (the masked forward, whose keys differ per sequence, and the backward)
            Tensor first = null, firstGrad = null;
            for (int threads = 1; threads <= 3; threads++) {
                CpuBackend.setThreads(threads);
                Tensor o = Tensor.zeros(arena, DType.F32, rows, d), p = copy(arena, pR), dqkv = Tensor.zeros(arena, DType.F32, rows, 3 * d);
                CPU.attentionForward(batch, heads, q, k, v, scale, lengths, p, o);
                CPU.attentionBackward(batch, heads, q, k, v, scale, p, dout, dqkv.view(0, 0, rows, d), dqkv.view(0, d, rows, d), dqkv.view(0, 2 * d, rows, d));
                if (first == null) {
                    first = o;
                    firstGrad = dqkv;
                } else {
                    assertBitwiseEqual(first, o, level + " " + threads + " threads");
                    assertBitwiseEqual(firstGrad, dqkv, level + " " + threads + " threads, dq dk dv");
                }
            }
        }
    }

    static Stream<Arguments> rowsCases() {
        return TestTensors.atEveryLevel(new long[][] {{1, 1, 1}, {7, 5, 3}, {300, 40, 17}, {65, 1000, 384}, {129, 9, 600}}); // rows, vocab, d
    }

    @ParameterizedTest(name = "{0} rows={1} vocab={2} d={3}")
    @MethodSource("rowsCases")
    void embeddingRowsMatchReferenceAndAreDeterministic(SimdLevel level, long n, long vocab, long d) {
        TestTensors.useLevel(level);
        SplittableRandom rng = new SplittableRandom(n * 31 + vocab + d);
        try (Arena arena = Arena.ofConfined()) {
            Tensor ids = Tensor.zeros(arena, DType.I32, n); // repeated ids, so the scatter adds several rows into one
            for (long i = 0; i < n; i++) ids.setInt(i, rng.nextInt((int) vocab));
            Tensor table = random(arena, rng, vocab, d), yR = random(arena, rng, n, d), yC = copy(arena, yR);
            REF.gatherRowsAdd(ids, table, yR);
            CPU.gatherRowsAdd(ids, table, yC);
            assertClose(yR, yC, 0, level + " gather"); // one addition per element: exact
            Tensor dy = random(arena, rng, n, d), gR = random(arena, rng, vocab, d), gC = copy(arena, gR);
            REF.scatterRowsAdd(ids, dy, gR);
            CPU.scatterRowsAdd(ids, dy, gC);
            assertClose(gR, gC, 1e-6 * (n + 1), level + " scatter");
            Tensor first = null;
            for (int threads = 1; threads <= 3; threads++) {
                CpuBackend.setThreads(threads);
                Tensor g = copy(arena, gR);
                CPU.scatterRowsAdd(ids, dy, g);
                if (first == null) first = g;
                else assertBitwiseEqual(first, g, level + " scatter on " + threads + " threads");
            }
        }
    }
}
