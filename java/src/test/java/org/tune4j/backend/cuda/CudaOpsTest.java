package org.tune4j.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.tune4j.backend.TestTensors.assertClose;

import java.lang.foreign.Arena;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.tune4j.backend.ReferenceBackend;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * The CUDA backend's kernels, op by op, against ReferenceBackend (the same oracle as the CPU's), on odd shapes,
 * strided views where an op takes them, accumulating outputs that start nonzero: GEMM in every transpose, LoRA
 * with and without dropout, the elementwise and row ops (DoRA's norms and scales, ReLU, softmax's backward), erf and tanh GELU, LayerNorm, cross-entropy, attention
 * through the fused kernel and the row kernels (with a padding mask, past the fused kernel's 32 tokens), embedding
 * rows, AdamW; and none of these falls back to the CPU. Skips: {@link GpuTest}.
 */
class CudaOpsTest extends GpuTest {
    private static final ReferenceBackend REF = new ReferenceBackend();
    private Arena arena;
    private SplittableRandom rng;

    @BeforeEach
    void start() {
        arena = Arena.ofShared();
        rng = new SplittableRandom(17);
        if (gpu != null) gpu.resetFallbacks();
    }

    @AfterEach
    void noFallbacks() {
        if (arena == null) return; // skipped before it started: no GPU here
        try {
            assertEquals(Map.of(), gpu.fallbacks(), "ops the CUDA backend ran on the CPU");
        } finally {
            arena.close();
            arena = null;
        }
    }

    /** A device copy of a host tensor. */
    private Tensor dev(Tensor host) {
        return host.copy(arena, gpu.memory());
    }

    private Tensor rand(long rows, long cols) {
        return org.tune4j.backend.TestTensors.random(arena, rng, rows, cols); // not GpuTest's random, which takes a half-width first
    }

    @ParameterizedTest(name = "gemm m={0} n={1} k={2}")
    @CsvSource({"1, 1, 1", "17, 33, 5", "64, 3, 129"})
    void gemmInEveryTransposeOnViews(int m, int n, int k) {
        for (boolean ta : new boolean[] {false, true})
            for (boolean tb : new boolean[] {false, true}) {
                Tensor aBig = rand((ta ? k : m) + 2, (ta ? m : k) + 3), bBig = rand((tb ? n : k) + 1, (tb ? k : n) + 5), cBig = rand(m + 1, n + 4);
                Tensor a = aBig.view(1, 2, ta ? k : m, ta ? m : k), b = bBig.view(0, 3, tb ? n : k, tb ? k : n), c = cBig.view(1, 1, m, n);
                Tensor da = dev(aBig).view(1, 2, ta ? k : m, ta ? m : k), db = dev(bBig).view(0, 3, tb ? n : k, tb ? k : n);
                Tensor dcBig = dev(cBig), dc = dcBig.view(1, 1, m, n);
                REF.gemm(ta, tb, 0.75f, a, b, 0.5f, c);
                gpu.gemm(ta, tb, 0.75f, da, db, 0.5f, dc);
                assertClose(cBig, dcBig, 1e-5 * (k + 8), "gemm ta=" + ta + " tb=" + tb + " (the padding untouched)");
            }
    }

    @ParameterizedTest(name = "lora dropout={0} bias={1}")
    @CsvSource({"false, false", "true, true"})
    void loraForwardBackwardAndMerge(boolean dropout, boolean bias) {
        int t = 7, in = 19, out = 13, r = 3;
        Tensor x = rand(t, in), w = rand(out, in), a = rand(r, in), b = rand(out, r), g = rand(t, out), bi = bias ? rand(1, out).reshape(out) : null;
        Tensor mask = null;
        if (dropout) {
            mask = Tensor.zeros(arena, DType.F32, t, in);
            for (long i = 0; i < mask.numel(); i++) mask.setFloat(i, rng.nextDouble() < 0.25 ? 0f : 1f / 0.75f);
        }
        Tensor h = Tensor.zeros(arena, DType.F32, t, r), y = Tensor.zeros(arena, DType.F32, t, out);
        Tensor dh = dev(h), dy = dev(y);
        REF.loraForward(x, mask, w, bi, a, b, 0.5f, h, y);
        gpu.loraForward(dev(x), mask == null ? null : dev(mask), dev(w), bi == null ? null : dev(bi), dev(a), dev(b), 0.5f, dh, dy);
        assertClose(h, dh, 1e-5, "h");
        assertClose(y, dy, 1e-5, "y");
        Tensor dx = rand(t, in), da = rand(r, in), dbb = rand(out, r);
        Tensor ddx = dev(dx), dda = dev(da), ddb = dev(dbb);
        REF.loraBackward(x, mask, w, a, b, 0.5f, h, g, dx, da, dbb);
        gpu.loraBackward(dev(x), mask == null ? null : dev(mask), dev(w), dev(a), dev(b), 0.5f, dh, dev(g), ddx, dda, ddb);
        assertClose(dx, ddx, 1e-5, "dx");
        assertClose(da, dda, 1e-5, "da");
        assertClose(dbb, ddb, 1e-5, "db");
        Tensor dw = dev(w);
        REF.loraMerge(w, a, b, 0.5f, -1f);
        gpu.loraMerge(dw, dev(a), dev(b), 0.5f, -1f);
        assertClose(w, dw, 1e-5, "merge");
    }

    @ParameterizedTest(name = "mixed adapters t={0} in={1} out={2}")
    @CsvSource({"1, 5, 3", "37, 19, 70", "130, 64, 33"})
    void mixedAdapterLoraInBothFormsAndTheWholeLayer(int t, int in, int out) {
        long[] ranks = {3, 16, 1};
        java.util.List<Tensor> a = new java.util.ArrayList<>(), b = new java.util.ArrayList<>(), da = new java.util.ArrayList<>(), db = new java.util.ArrayList<>();
        for (long r : ranks) {
            a.add(rand(r, in));
            b.add(rand(out, r));
            da.add(dev(a.getLast()));
            db.add(dev(b.getLast()));
        }
        float[] scales = {0.5f, 2f, -1f};
        var host = new org.tune4j.backend.LoraAdapters(a, b, scales);
        var device = new org.tune4j.backend.LoraAdapters(da, db, scales);
        // segments: rows in runs of 1-9 over adapters -1..2; the per-row form of the same
        java.util.List<Integer> starts = new java.util.ArrayList<>(java.util.List.of(0)), ids = new java.util.ArrayList<>();
        for (int row = 0; row < t; ) {
            row = Math.min(t, row + 1 + rng.nextInt(9));
            starts.add(row);
            ids.add(rng.nextInt(4) - 1);
        }
        Tensor segStart = Tensor.zeros(arena, DType.I32, starts.size()), segAdapter = Tensor.zeros(arena, DType.I32, ids.size()), rows = Tensor.zeros(arena, DType.I32, t);
        for (int s = 0; s < ids.size(); s++) {
            segStart.setInt(s, starts.get(s));
            segAdapter.setInt(s, ids.get(s));
            for (int p = starts.get(s); p < starts.get(s + 1); p++) rows.setInt(p, ids.get(s));
        }
        segStart.setInt(ids.size(), t);
        Tensor x = rand(t, in), w = rand(out, in), bias = rand(1, out).reshape(out);
        Tensor h = rand(t, 17), y = rand(t, out);
        Tensor dh = dev(h), dy = dev(y), dh2 = dev(h), dy2 = dev(y);
        REF.loraShrinkSegments(x, segStart, segAdapter, host, h);
        REF.loraExpandSegments(h, segStart, segAdapter, host, y);
        gpu.loraShrinkSegments(dev(x), segStart, segAdapter, device, dh);
        gpu.loraExpandSegments(dh, segStart, segAdapter, device, dy);
        assertClose(h, dh, 1e-5, "shrink, segments");
        assertClose(y, dy, 1e-5, "expand, segments");
        gpu.loraShrinkRows(dev(x), rows, device, dh2);
        gpu.loraExpandRows(dh2, rows, device, dy2);
        assertClose(h, dh2, 1e-5, "shrink, per row");
        assertClose(y, dy2, 1e-5, "expand, per row");
        Tensor yl = Tensor.zeros(arena, DType.F32, t, out), dyl = dev(yl), hl = Tensor.zeros(arena, DType.F32, t, 16);
        REF.loraMixedForward(x, w, bias, segStart, segAdapter, host, hl, yl);
        gpu.loraMixedForward(dev(x), dev(w), dev(bias), segStart, segAdapter, device, dev(hl), dyl);
        assertClose(yl, dyl, 1e-5 * (in + 8), "the whole layer");
    }

    @ParameterizedTest(name = "rows m={0} n={1}")
    @CsvSource({"1, 1", "3, 33", "33, 257", "5, 1000"})
    void elementwiseAndRowOps(int m, int n) {
        Tensor a = rand(m, n), b = rand(m, n), y = rand(m, n), row = rand(1, n).reshape(n);
        Tensor dy = dev(y);
        REF.add(a, b, y);
        gpu.add(dev(a), dev(b), dy);
        assertClose(y, dy, 0, "add");
        REF.axpy(-0.5f, a, y);
        gpu.axpy(-0.5f, dev(a), dy);
        assertClose(y, dy, 1e-6, "axpy");
        REF.scale(1.5f, y);
        gpu.scale(1.5f, dy);
        assertClose(y, dy, 1e-6, "scale");
        REF.addRow(row, y);
        gpu.addRow(dev(row), dy);
        assertClose(y, dy, 1e-6, "addRow");
        Tensor h = rand(m, 3), bt = rand(3, n);
        REF.lowRankAdd(h, bt, 0.75f, y);
        gpu.lowRankAdd(dev(h), dev(bt), 0.75f, dy);
        assertClose(y, dy, 1e-5, "lowRankAdd");
        Tensor s = rand(1, n).reshape(n), ds = dev(s);
        REF.sumRows(a, s);
        gpu.sumRows(dev(a), ds);
        assertClose(s, ds, 1e-5 * (m + 8), "sumRows");
        assertEquals(REF.sumSquares(a), gpu.sumSquares(dev(a)), 1e-5 * (1 + REF.sumSquares(a)), "sumSquares");
        for (boolean exact : new boolean[] {false, true}) {
            Tensor gy = Tensor.zeros(arena, DType.F32, m, n), dgy = dev(gy);
            REF.geluForward(a, gy, exact);
            gpu.geluForward(dev(a), dgy, exact);
            assertClose(gy, dgy, 2e-6, "gelu exact=" + exact);
            Tensor dx = rand(m, n), ddx = dev(dx);
            REF.geluBackward(a, b, dx, exact);
            gpu.geluBackward(dev(a), dev(b), ddx, exact);
            assertClose(dx, ddx, 2e-6, "gelu backward exact=" + exact);
        }
        Tensor sm = Tensor.zeros(arena, DType.F32, m, n), dsm = dev(sm);
        REF.softmaxForward(a, sm);
        gpu.softmaxForward(dev(a), dsm);
        assertClose(sm, dsm, 2e-6, "softmax");
        Tensor dsb = rand(m, n), ddsb = dev(dsb);
        REF.softmaxBackward(sm, b, dsb);
        gpu.softmaxBackward(dsm, dev(b), ddsb);
        assertClose(dsb, ddsb, 1e-5, "softmax backward");
        Tensor ry = Tensor.zeros(arena, DType.F32, m, n), dry = dev(ry);
        REF.reluForward(a, ry);
        gpu.reluForward(dev(a), dry);
        assertClose(ry, dry, 0, "relu");
        Tensor rdx = rand(m, n), drdx = dev(rdx);
        REF.reluBackward(a, b, rdx);
        gpu.reluBackward(dev(a), dev(b), drdx);
        assertClose(rdx, drdx, 0, "relu backward");
        Tensor scaled = rand(m, n), dscaled = dev(scaled);
        REF.mulRow(row, scaled);
        gpu.mulRow(dev(row), dscaled);
        assertClose(scaled, dscaled, 0, "mulRow");
        Tensor sq = Tensor.zeros(arena, DType.F32, m), dsq = dev(sq);
        REF.rowSquares(a, sq);
        gpu.rowSquares(dev(a), dsq);
        assertClose(sq, dsq, 1e-5 * (n + 8), "rowSquares");
        Tensor sp = rand(1, n).reshape(n), dsp = dev(sp);
        REF.sumRowsProduct(a, b, sp);
        gpu.sumRowsProduct(dev(a), dev(b), dsp);
        assertClose(sp, dsp, 1e-5 * (m + 8), "sumRowsProduct");
        Tensor gamma = rand(1, n).reshape(n), beta = rand(1, n).reshape(n), mean = Tensor.zeros(arena, DType.F32, m), rstd = Tensor.zeros(arena, DType.F32, m);
        Tensor ln = Tensor.zeros(arena, DType.F32, m, n), dln = dev(ln), dmean = dev(mean), drstd = dev(rstd);
        REF.layerNormForward(a, gamma, beta, 1e-5f, ln, mean, rstd);
        gpu.layerNormForward(dev(a), dev(gamma), dev(beta), 1e-5f, dln, dmean, drstd);
        assertClose(ln, dln, 1e-5, "layerNorm");
        Tensor dx = rand(m, n), dg = rand(1, n).reshape(n), dbeta = rand(1, n).reshape(n);
        Tensor ddx = dev(dx), ddg = dev(dg), ddbeta = dev(dbeta);
        REF.layerNormBackward(a, gamma, mean, rstd, b, dx, dg, dbeta);
        gpu.layerNormBackward(dev(a), dev(gamma), dmean, drstd, dev(b), ddx, ddg, ddbeta);
        assertClose(dx, ddx, 1e-4, "layerNorm dx");
        assertClose(dg, ddg, 1e-5 * (m + 8), "layerNorm dgamma");
        assertClose(dbeta, ddbeta, 1e-5 * (m + 8), "layerNorm dbeta");
        Tensor labels = Tensor.zeros(arena, DType.I32, m);
        for (int i = 0; i < m; i++) labels.setInt(i, rng.nextInt(n));
        Tensor probs = Tensor.zeros(arena, DType.F32, m, n), dprobs = dev(probs);
        float loss = REF.crossEntropyForward(a, labels, 0.1f, probs), dloss = gpu.crossEntropyForward(dev(a), labels, 0.1f, dprobs);
        assertEquals(loss, dloss, 1e-5 * (1 + Math.abs(loss)), "cross-entropy");
        assertClose(probs, dprobs, 2e-6, "cross-entropy probabilities");
        Tensor dl = rand(m, n), ddl = dev(dl);
        REF.crossEntropyBackward(probs, labels, 0.1f, 0.75f, dl);
        gpu.crossEntropyBackward(dprobs, labels, 0.1f, 0.75f, ddl);
        assertClose(dl, ddl, 1e-6, "cross-entropy backward");
        Tensor p = rand(m, n), gr = rand(m, n), mm = rand(m, n), vv = rand(m, n);
        for (long i = 0; i < vv.numel(); i++) vv.setFloat(i, Math.abs(vv.getFloat(i)));
        Tensor dp = dev(p), dmm = dev(mm), dvv = dev(vv);
        REF.adamwStep(p, gr, mm, vv, 1e-2f, 0.9f, 0.999f, 1e-8f, 0.01f, 3);
        gpu.adamwStep(dp, dev(gr), dmm, dvv, 1e-2f, 0.9f, 0.999f, 1e-8f, 0.01f, 3);
        assertClose(p, dp, 1e-5, "adamw parameters");
        assertClose(vv, dvv, 1e-6, "adamw second moments");
    }

    /** seq 5: the fused kernel (q, k, v the thirds of one matrix, no mask); seq 40: the row kernels, with and without a padding mask. */
    @ParameterizedTest(name = "attention batch={0} heads={1} seq={2} dh={3} masked={4}")
    @CsvSource({"3, 2, 5, 4, false", "3, 3, 40, 5, true", "2, 2, 40, 8, false"})
    void attentionForwardAndBackward(int batch, int heads, int seq, int dh, boolean masked) {
        long rows = (long) batch * seq, d = (long) heads * dh;
        Tensor qkv = rand(rows, 3 * d), dqkv = dev(qkv);
        Tensor q = qkv.view(0, 0, rows, d), k = qkv.view(0, d, rows, d), v = qkv.view(0, 2 * d, rows, d);
        Tensor gq = dqkv.view(0, 0, rows, d), gk = dqkv.view(0, d, rows, d), gv = dqkv.view(0, 2 * d, rows, d);
        Tensor lengths = null;
        if (masked) {
            lengths = Tensor.zeros(arena, DType.I32, batch);
            for (int b = 0; b < batch; b++) lengths.setInt(b, b == 0 ? seq : Math.max(1, seq - 7 * b - 11));
        }
        float scale = (float) (1 / Math.sqrt(dh));
        Tensor probs = Tensor.zeros(arena, DType.F32, (long) batch * heads * seq * seq), out = Tensor.zeros(arena, DType.F32, rows, d);
        Tensor dprobs = dev(probs), dout = dev(out);
        REF.attentionForward(batch, heads, q, k, v, scale, lengths, probs, out);
        gpu.attentionForward(batch, heads, gq, gk, gv, scale, lengths, dprobs, dout);
        assertClose(probs, dprobs, 1e-6, "probabilities");
        assertClose(out, dout, 1e-5, "out");
        Tensor g = rand(rows, d), grads = rand(rows, 3 * d), dgrads = dev(grads);
        REF.attentionBackward(batch, heads, q, k, v, scale, probs, g, grads.view(0, 0, rows, d), grads.view(0, d, rows, d), grads.view(0, 2 * d, rows, d));
        gpu.attentionBackward(batch, heads, gq, gk, gv, scale, dprobs, dev(g), dgrads.view(0, 0, rows, d), dgrads.view(0, d, rows, d),
                dgrads.view(0, 2 * d, rows, d));
        assertClose(grads, dgrads, 1e-5, "dq | dk | dv, accumulated");
    }

    /** The ops a recorded step runs on the device (Backend.record): the loss and the clipping kept there, labels there too, a column gather. */
    @ParameterizedTest(name = "step ops m={0} n={1}")
    @CsvSource({"1, 3", "7, 33", "64, 10"})
    void theOpsOfARecordedStepKeepTheirResultsOnTheDevice(int m, int n) {
        Tensor a = rand(m, n), labels = Tensor.zeros(arena, DType.I32, m);
        for (int i = 0; i < m; i++) labels.setInt(i, rng.nextInt(n));
        Tensor probs = Tensor.zeros(arena, DType.F32, m, n), dprobs = dev(probs), dloss = gpu.memory().zeros(arena, DType.F32, 1);
        float loss = REF.crossEntropyForward(a, labels, 0.1f, probs);
        gpu.crossEntropyLoss(dev(a), dev(labels), 0.1f, dprobs, dloss);
        assertEquals(loss, dloss.toFloatArray()[0], 1e-5 * (1 + Math.abs(loss)), "cross-entropy loss, labels on the device");
        assertClose(probs, dprobs, 2e-6, "cross-entropy probabilities");
        for (float max : new float[] {0.5f, 1e4f}) { // clipped, and left alone
            Tensor g1 = rand(m, n), g2 = rand(1, 5).reshape(5), norm = Tensor.zeros(arena, DType.F32, 1), dnorm = gpu.memory().zeros(arena, DType.F32, 1);
            Tensor d1 = dev(g1), d2 = dev(g2);
            REF.clipGradNorm(new Tensor[] {g1, g2}, max, norm);
            gpu.clipGradNorm(new Tensor[] {d1, d2}, max, dnorm);
            assertEquals(norm.getFloat(0), dnorm.toFloatArray()[0], 1e-5 * norm.getFloat(0), "clipGradNorm's norm, max " + max);
            assertClose(g1, d1, 1e-6, "clipped gradient, max " + max);
            assertClose(g2, d2, 1e-6, "clipped vector gradient, max " + max);
        }
        Tensor index = Tensor.zeros(arena, DType.I32, n), y = rand(m, n), dy = dev(y);
        for (int j = 0; j < n; j++) index.setInt(j, (int) ((7L * j + 3) % n));
        REF.gatherColumns(a, index, y);
        gpu.gatherColumns(dev(a), dev(index), dy);
        assertClose(y, dy, 0, "gathered columns");
        Tensor orig = rand(m, n), adv = rand(m, n), grad = rand(m, n);
        for (Tensor t : new Tensor[] {orig, adv})
            for (long i = 0; i < t.numel(); i++) t.setFloat(i / n, i % n, Math.abs(t.getFloat(i / n, i % n)) % 1f);
        Tensor dadv = dev(adv);
        REF.pgdStep(adv, grad, orig, 0.05f, 0.1f);
        gpu.pgdStep(dadv, dev(grad), dev(orig), 0.05f, 0.1f);
        assertClose(adv, dadv, 0, "a PGD step");
        Tensor patches = rand(2 * m, n), cls = rand(1, n), pos = rand(3, n), tokens = rand(3 * m, n), dtokens = dev(tokens); // m sequences of 2 patches
        REF.vitTokens(patches, cls, pos, m, tokens);
        gpu.vitTokens(dev(patches), dev(cls), dev(pos), m, dtokens);
        assertClose(tokens, dtokens, 0, "ViT tokens");
        Tensor p = rand(m, n), gr = rand(m, n), mm = rand(m, n), vv = rand(m, n);
        for (long i = 0; i < vv.numel(); i++) vv.setFloat(i / n, i % n, Math.abs(vv.getFloat(i / n, i % n)));
        Tensor dp = dev(p), dmm = dev(mm), dvv = dev(vv);
        REF.adamwStep(p, gr, mm, vv, 1e-2f * 2f, 0.9f, 0.999f, 1e-8f, 0.01f, 3);
        gpu.adamwStep(dp, dev(gr), dmm, dvv, dev(Tensor.of(arena, new float[] {1e-2f, 3f}, 2)), 2f, 0.9f, 0.999f, 1e-8f, 0.01f);
        assertClose(p, dp, 1e-5, "adamw on a schedule in device memory: parameters");
        assertClose(vv, dvv, 1e-6, "adamw on a schedule: second moments");
    }

    @ParameterizedTest(name = "embedding rows n={0} d={1}")
    @CsvSource({"1, 1", "9, 7", "300, 33"})
    void embeddingRowsGatheredAndScattered(int n, int d) {
        Tensor table = rand(11, d), ids = Tensor.zeros(arena, DType.I32, n);
        for (int i = 0; i < n; i++) ids.setInt(i, rng.nextInt(4) == 0 ? 3 : rng.nextInt(11)); // repeats
        Tensor y = rand(n, d), dy = dev(y);
        REF.gatherRowsAdd(ids, table, y);
        gpu.gatherRowsAdd(ids, dev(table), dy);
        assertClose(y, dy, 0, "gathered rows");
        Tensor g = rand(n, d), dt = rand(11, d), ddt = dev(dt);
        REF.scatterRowsAdd(ids, g, dt);
        gpu.scatterRowsAdd(ids, dev(g), ddt);
        assertClose(dt, ddt, 1e-6, "scattered gradient");
    }
}
