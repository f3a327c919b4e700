package org.tune4j.backend;

import static org.tune4j.backend.Op.dot;

import java.util.ArrayList;
import java.util.List;
import org.tune4j.backend.Op.GradientCheck;
import org.tune4j.tensor.Tensor;

/** The op table's GEMM, LoRA (one adapter and mixed batches), attention and embedding rows (see {@link OpTable}). */
final class OpTableSequences {
    private OpTableSequences() {}

    static List<Op> all() {
        List<Op> ops = new ArrayList<>(List.of(GEMM, LINEAR, LINEAR_PACKED, LORA, LORA_PACKED, LORA_MIXED, ATTENTION, EMBEDDING_ROWS));
        ops.addAll(OpTableSteps.all());
        ops.addAll(OpTableCompressed.all());
        return ops;
    }

    /**
     * m, n, k: a dot product, vectors, one row or column, tails; past a tile; a narrow C with m between n and 4n (LoRA's
     * x Aᵀ at 17 tokens: the skinny path); two row blocks, two column panels and two K blocks (B slivers packed once,
     * reused by the second row block); one row block (each B sliver packed into one buffer, the next one's source prefetched);
     * an empty inner dimension (c = beta · c); rank-6 and rank-8 products over many rows, K with a tail and K just past a
     * K block (LoRA's x Aᵀ and g B: the dot8 path, two rows a step, an odd last row; 1032 two blocks at kc 512, not three);
     * 1.5e8 flops with more columns than rows, on AMX tiles packed at the call where the CPU has them (Cᵀ on the tiles;
     * CpuBackend.gemmOnAmx).
     */
    static final long[][] GEMM_SHAPES = {{1, 1, 1}, {1, 3, 17}, {3, 1, 33}, {17, 33, 1}, {33, 17, 3}, {1, 257, 33}, {257, 1, 17}, {257, 33, 17},
        {17, 257, 65}, {65, 97, 257}, {8, 48, 256}, {130, 100, 300}, {16, 200, 300}, {300, 16, 100}, {17, 8, 129}, {13, 11, 40}, {150, 1060, 420},
        {70, 1100, 400}, {3, 4, 0}, {301, 6, 390}, {203, 8, 392}, {40, 70, 1032}, {257, 301, 999}};

    /** c = alpha · op(a) op(b) + beta · c in the four transposes, on contiguous operands and on views with wider rows. */
    static final Op GEMM = Op.of("gemm", GEMM_SHAPES, (be, in, out, s) -> {
        long m = s[0], n = s[1], k = s[2];
        for (int t = 0; t < 4; t++) {
            boolean ta = (t & 1) != 0, tb = (t & 2) != 0;
            String what = "transA " + ta + " transB " + tb;
            Tensor a = ta ? in.random(k, m) : in.random(m, k), b = tb ? in.random(n, k) : in.random(k, n);
            for (float[] ab : new float[][] {{1f, 0f}, {-1.5f, 0.25f}}) {
                Tensor c = ab[1] == 0f ? in.filled(Float.NaN, m, n) : in.random(m, n); // beta 0: c is not read
                be.gemm(ta, tb, ab[0], a, b, ab[1], c);
                out.expect(what + " alpha " + ab[0] + " beta " + ab[1], c, 2e-6 * (k + 8));
            }
            Tensor as = ta ? in.strided(k, m) : in.strided(m, k), bs = tb ? in.strided(n, k) : in.strided(k, n), cWhole = in.random(m + 2, n + 5);
            be.gemm(ta, tb, 0.75f, as, bs, 0.5f, cWhole.view(1, 3, m, n));
            out.expect(what + " on views (the rest untouched)", cWhole, 2e-6 * (k + 8));
        }
    }).refusing((be, in) -> be.gemm(false, false, 1f, in.random(2, 3), in.random(4, 5), 0f, in.zeros(2, 5)));

    /**
     * m, n, k of the fused linear layer: a GEMV and 4 rows, a narrow output, n below one tile with m above it, MiniLM's
     * 128 x 384 (one K block) and its FFN down projection (4 K blocks: the bias joins after the first), an empty inner
     * dimension (y is the bias), two row blocks with two K blocks, one output.
     */
    static final long[][] LINEAR_SHAPES = {{1, 300, 70}, {4, 257, 1030}, {300, 16, 100}, {97, 9, 40}, {128, 384, 384}, {128, 384, 1536}, {3, 5, 0},
        {150, 1060, 420}, {40, 1, 33}};

    /** y = x wᵀ + bias (and without), x and y views with wider rows, y written over NaN (never read). */
    static final Op LINEAR = Op.of("linear", LINEAR_SHAPES, (be, in, out, s) -> {
        Tensor x = in.strided(s[0], s[2]), w = in.random(s[1], s[2]), bias = in.random(s[1]);
        for (Tensor b : new Tensor[] {bias, null}) {
            Tensor yWhole = in.filled(Float.NaN, s[0] + 2, s[1] + 5);
            be.linear(x, w, b, yWhole.view(1, 3, s[0], s[1]));
            out.expect(b == null ? "y, no bias" : "y", yWhole.view(1, 3, s[0], s[1]), 2e-6 * (s[2] + 8));
        }
    }).refusing((be, in) -> be.linear(in.random(2, 3), in.random(4, 3), in.random(5), in.zeros(2, 4)));

    /** The same on weights packed ahead (on the host: a device runs it there, counted). */
    static final Op LINEAR_PACKED = Op.of("linearPacked", LINEAR_SHAPES, (be, in, out, s) -> {
        Tensor x = in.strided(s[0], s[2]), bias = in.random(s[1]);
        PackedLinearWeights w = PackedLinearWeights.pack(in.arena(), in.host(in.random(s[1], s[2])));
        for (Tensor b : new Tensor[] {bias, null}) {
            Tensor y = in.filled(Float.NaN, s[0], s[1]);
            be.linearPacked(x, w, b, y);
            out.expect(b == null ? "y, no bias" : "y", y, 2e-6 * (s[2] + 8));
        }
    }).refusing((be, in) -> be.linearPacked(in.random(2, 4), PackedLinearWeights.pack(in.arena(), in.host(in.random(3, 5))), null, in.zeros(2, 3)))
            .onDevicesRunsOnTheHost();

    /** t, d_in, d_out, r */
    static final long[][] LORA_SHAPES = {{1, 1, 1, 1}, {3, 17, 33, 1}, {17, 33, 3, 2}, {33, 1, 17, 4}, {1, 257, 33, 8}, {257, 33, 17, 16},
        {65, 100, 129, 16}, {50, 64, 64, 3}, {9, 300, 257, 33}, {7, 19, 13, 3}};

    /**
     * y = x Wᵀ + bias + scale · (mask ⊙ x) Aᵀ Bᵀ with and without dropout and bias; its backward (accumulating into
     * non-zero gradients, and without dx for a first layer); merging into W and out again.
     */
    static final Op LORA = Op.of("lora", LORA_SHAPES, (be, in, out, s) -> {
        long t = s[0], dIn = s[1], dOut = s[2], r = s[3];
        double tol = 3e-6 * (dIn + dOut + r + 8), sumTol = tol * (t + 8) / 8;
        Tensor x = in.random(t, dIn), w = in.random(dOut, dIn), a = in.random(r, dIn), b = in.random(dOut, r);
        float scale = 2f / r;
        for (int variant = 0; variant < 4; variant++) {
            boolean dropout = (variant & 1) != 0, withBias = (variant & 2) != 0;
            String what = (dropout ? "dropout" : "no dropout") + (withBias ? ", bias" : ", no bias");
            Tensor mask = dropout ? in.mask(0.25, t, dIn) : null, bias = withBias ? in.random(dOut) : null;
            Tensor h = in.zeros(t, r), y = in.zeros(t, dOut);
            be.loraForward(x, mask, w, bias, a, b, scale, h, y);
            out.expect(what + " h", h, tol);
            out.expect(what + " y", y, tol);
            Tensor g = in.random(t, dOut), dx = in.random(t, dIn), da = in.random(r, dIn), db = in.random(dOut, r);
            be.loraBackward(x, mask, w, a, b, scale, h, g, dx, da, db);
            out.expect(what + " dx", dx, tol);
            out.expect(what + " da", da, sumTol);
            out.expect(what + " db", db, sumTol);
            Tensor daOnly = in.zeros(r, dIn), dbOnly = in.zeros(dOut, r);
            be.loraBackward(x, mask, w, a, b, scale, h, g, null, daOnly, dbOnly);
            out.expect(what + " da without dx", daOnly, sumTol);
            out.expect(what + " db without dx", dbOnly, sumTol);
        }
        Tensor merged = in.zeros(dOut, dIn);
        merged.copyFrom(w);
        be.loraMerge(merged, a, b, scale, 1f);
        out.expect("merged", merged, tol);
        be.loraMerge(merged, a, b, scale, -1f);
        out.expect("merged then unmerged", merged, tol);
    }).refusing((be, in) -> be.loraForward(in.random(2, 3), null, in.random(4, 3), null, in.random(2, 5), in.random(4, 2), 1f, in.zeros(2, 2), in.zeros(2, 4)))
            .withGradient((ref, in) -> {
                long t = 3, dIn = 4, dOut = 5, r = 2;
                Tensor x = in.random(t, dIn), w = in.random(dOut, dIn), a = in.random(r, dIn), b = in.random(dOut, r), bias = in.random(dOut), g = in.random(t, dOut);
                Tensor h = in.zeros(t, r), y = in.zeros(t, dOut), dx = in.zeros(t, dIn), da = in.zeros(r, dIn), db = in.zeros(dOut, r);
                ref.loraForward(x, null, w, bias, a, b, 0.5f, h, y);
                ref.loraBackward(x, null, w, a, b, 0.5f, h, g, dx, da, db);
                java.util.function.DoubleSupplier loss = () -> {
                    ref.loraForward(x, null, w, bias, a, b, 0.5f, h, y);
                    return dot(y, g);
                };
                return List.of(new GradientCheck("dx", x, dx, loss), new GradientCheck("dA", a, da, loss), new GradientCheck("dB", b, db, loss));
            });

    /**
     * The same over W packed with Wᵀ (a training step's frozen base, PackedLinearWeights.packWithTransposed; on the host:
     * a device runs it there, counted), with and without dropout: h and y written over NaN; dx written over NaN (never
     * read), or added into; da and db added into.
     */
    static final Op LORA_PACKED = Op.of("loraPacked", LORA_SHAPES, (be, in, out, s) -> {
        long t = s[0], dIn = s[1], dOut = s[2], r = s[3];
        double tol = 3e-6 * (dIn + dOut + r + 8), sumTol = tol * (t + 8) / 8;
        Tensor x = in.random(t, dIn), a = in.random(r, dIn), b = in.random(dOut, r), bias = in.random(dOut);
        PackedLinearWeights w = PackedLinearWeights.packWithTransposed(in.arena(), in.host(in.random(dOut, dIn)));
        float scale = 2f / r;
        for (boolean dropout : new boolean[] {false, true}) {
            String what = dropout ? "dropout" : "no dropout";
            Tensor mask = dropout ? in.mask(0.25, t, dIn) : null, h = in.filled(Float.NaN, t, r), y = in.filled(Float.NaN, t, dOut);
            be.loraForwardPacked(x, mask, w, bias, a, b, scale, h, y);
            out.expect(what + " h", h, tol);
            out.expect(what + " y", y, tol);
            Tensor g = in.random(t, dOut), dx = in.filled(Float.NaN, t, dIn), da = in.random(r, dIn), db = in.random(dOut, r);
            be.loraBackwardPacked(x, mask, w, a, b, scale, h, g, dx, false, da, db);
            out.expect(what + " dx written", dx, tol);
            out.expect(what + " da", da, sumTol);
            out.expect(what + " db", db, sumTol);
            Tensor dxAdded = in.random(t, dIn);
            be.loraBackwardPacked(x, mask, w, a, b, scale, h, g, dxAdded, true, in.zeros(r, dIn), in.zeros(dOut, r));
            out.expect(what + " dx added into", dxAdded, tol);
        }
    }).refusing((be, in) -> be.loraForwardPacked(in.random(2, 3), null, PackedLinearWeights.packWithTransposed(in.arena(), in.host(in.random(4, 3))), null,
            in.random(2, 5), in.random(4, 2), 1f, in.zeros(2, 2), in.zeros(2, 4))).onDevicesRunsOnTheHost();

    /** t, d_in, d_out, then the adapters' ranks */
    static final long[][] MIXED_SHAPES = {{1, 1, 1, 1}, {1, 5, 3, 3, 16, 1}, {5, 17, 3, 2, 1}, {33, 7, 65, 3, 16, 1}, {37, 19, 70, 3, 16, 1},
        {130, 64, 33, 3, 16, 1}, {200, 64, 48, 16, 16, 16, 16}, {97, 130, 33, 33, 5}, {300, 40, 70, 8, 1, 16, 4, 12, 2, 9}, {150, 500, 1100, 16, 7, 3}};

    /**
     * A mixed-adapter batch: rows in segments (some empty, some with no adapter, -1), the low-rank terms shrunk
     * (x Aᵢᵀ into h wider than any rank) and expanded (h Bᵢᵀ added into y) in both forms, segments and one adapter
     * a row; and the whole layer (base, bias, low-rank terms) in one call. The routing lives on the host.
     */
    static final Op LORA_MIXED = Op.of("loraMixed", MIXED_SHAPES, (be, in, out, s) -> {
        long t = s[0], dIn = s[1], dOut = s[2];
        int count = s.length - 3;
        double tol = 3e-6 * (dIn + dOut + 40);
        List<Tensor> a = new ArrayList<>(), b = new ArrayList<>();
        float[] scales = new float[count];
        long maxRank = 0;
        for (int i = 0; i < count; i++) {
            a.add(in.random(s[3 + i], dIn));
            b.add(in.random(dOut, s[3 + i]));
            scales[i] = 2f / s[3 + i];
            maxRank = Math.max(maxRank, s[3 + i]);
        }
        LoraAdapters adapters = new LoraAdapters(a, b, scales);
        List<Integer> starts = new ArrayList<>(List.of(0)), ids = new ArrayList<>();
        for (int row = 0; row < t; starts.add(row)) {
            row += in.nextInt(4) == 0 ? 0 : 1 + in.nextInt((int) Math.min(t - row, 120));
            ids.add(in.nextInt(count + 1) - 1);
        }
        int[] rowAdapter = new int[(int) t];
        for (int seg = 0; seg < ids.size(); seg++)
            for (int p = starts.get(seg); p < starts.get(seg + 1); p++) rowAdapter[p] = ids.get(seg);
        Tensor segStart = in.hostInts(starts.stream().mapToInt(Integer::intValue).toArray()), segAdapter = in.hostInts(ids.stream().mapToInt(Integer::intValue).toArray());
        Tensor rows = in.hostInts(rowAdapter), x = in.strided(t, dIn);
        for (boolean perRow : new boolean[] {false, true}) {
            String form = perRow ? "per row" : "segments";
            Tensor h = in.random(t, maxRank + 3), yWhole = in.random(t, dOut + 4), y = yWhole.view(0, 2, t, dOut);
            if (perRow) be.loraShrinkRows(x, rows, adapters, h);
            else be.loraShrinkSegments(x, segStart, segAdapter, adapters, h);
            if (perRow) be.loraExpandRows(h, rows, adapters, y);
            else be.loraExpandSegments(h, segStart, segAdapter, adapters, y);
            out.expect("h, " + form, h, tol);
            out.expect("y, " + form, yWhole, tol);
        }
        Tensor w = in.random(dOut, dIn), bias = in.random(dOut), h = in.zeros(t, maxRank + 3), yWhole = in.random(t, dOut + 4);
        be.loraMixedForward(x, w, bias, segStart, segAdapter, adapters, h, yWhole.view(0, 1, t, dOut));
        out.expect("the whole layer's h", h, tol);
        out.expect("the whole layer's y", yWhole, tol);
    }).refusing((be, in) -> be.loraShrinkSegments(in.random(6, 8), in.hostInts(0, 2, 5), in.hostInts(0, 0),
            new LoraAdapters(List.of(in.random(4, 8)), List.of(in.random(5, 4)), new float[] {1f}), in.zeros(6, 4)));

    /**
     * batch, heads, seq, dh: one token; heads wider than a vector with a tail; the ViT's 17 tokens and heads of 32;
     * a head too large for the CPU kernel's Kᵀ on the stack (130 x 80 padded keys); enough ViT pairs to be split
     * between threads 8 to a task (37 x 3: the last task holds 7); seq 40, past CUDA's fused kernel's 32 tokens;
     * BERT-base's heads of 64 at 260 tokens.
     */
    static final long[][] ATTENTION_SHAPES = {{1, 1, 1, 1}, {2, 3, 5, 4}, {3, 4, 17, 8}, {2, 2, 33, 3}, {2, 4, 17, 32}, {1, 2, 7, 37}, {1, 1, 70, 130},
        {2, 3, 128, 32}, {64, 4, 17, 32}, {37, 3, 17, 32}, {3, 3, 40, 5}, {1, 2, 260, 64}};

    /**
     * softmax(q kᵀ · scale) v per (sequence, head), q, k, v the thirds of one fused [rows, 3d] projection: with a padding
     * mask (sequence b keeps its first lengths[b] keys, the last all of them; lengths on the host) and without;
     * the backward accumulating into the thirds of one gradient.
     */
    static final Op ATTENTION = Op.of("attention", ATTENTION_SHAPES, (be, in, out, s) -> {
        int batch = (int) s[0], heads = (int) s[1], seq = (int) s[2], dh = (int) s[3];
        long rows = (long) batch * seq, d = (long) heads * dh;
        Tensor qkv = in.random(rows, 3 * d), q = qkv.view(0, 0, rows, d), k = qkv.view(0, d, rows, d), v = qkv.view(0, 2 * d, rows, d);
        float scale = (float) (1 / Math.sqrt(dh));
        int[] lengths = new int[batch];
        for (int b = 0; b < batch; b++) lengths[b] = b == batch - 1 ? seq : 1 + in.nextInt(seq);
        Tensor probs = in.zeros((long) batch * heads * seq * seq), o = in.zeros(rows, d);
        be.attentionForward(batch, heads, q, k, v, scale, in.hostInts(lengths), probs, o);
        out.expect("masked probabilities", probs, 2e-6);
        out.expect("masked out", o, 2e-6 * (seq + 8));
        float[] p = probs.toFloatArray(), padded = new float[p.length];
        for (int e = 0; e < p.length; e++) padded[e] = e % seq >= lengths[e / (heads * seq * seq)] ? p[e] : 0f;
        out.expect("padded keys' probabilities (zero)", in.of(padded), 0);
        be.attentionForward(batch, heads, q, k, v, scale, null, probs, o);
        out.expect("probabilities", probs, 2e-6);
        out.expect("out", o, 2e-6 * (seq + 8));
        Tensor unkept = in.filled(Float.NaN, rows, d), unkeptMasked = in.filled(Float.NaN, rows, d); // probabilities not kept (a no-grad forward)
        be.attentionForward(batch, heads, q, k, v, scale, null, null, unkept);
        be.attentionForward(batch, heads, q, k, v, scale, in.hostInts(lengths), null, unkeptMasked);
        out.expect("out, probabilities not kept", unkept, 2e-6 * (seq + 8));
        out.expect("masked out, probabilities not kept", unkeptMasked, 2e-6 * (seq + 8));
        Tensor dqkv = in.random(rows, 3 * d), dout = in.random(rows, d), written = in.filled(Float.NaN, rows, 3 * d);
        be.attentionBackward(batch, heads, q, k, v, scale, probs, dout, dqkv.view(0, 0, rows, d), dqkv.view(0, d, rows, d), dqkv.view(0, 2 * d, rows, d));
        out.expect("dq | dk | dv, accumulated", dqkv, 2e-6 * (seq + dh + 8));
        be.attentionBackward(batch, heads, q, k, v, scale, probs, dout, written.view(0, 0, rows, d), written.view(0, d, rows, d), written.view(0, 2 * d, rows, d),
                false); // written, their old contents (NaN) never read
        out.expect("dq | dk | dv, written", written, 2e-6 * (seq + dh + 8));
    }).refusing((be, in) -> be.attentionForward(2, 2, in.random(6, 4), in.random(6, 4), in.random(6, 4), 1f, null, in.zeros(2 * 2 * 3 * 3), in.zeros(6, 5)))
            .withGradient((ref, in) -> {
                List<GradientCheck> checks = new ArrayList<>();
                int batch = 2, heads = 2, seq = 4, dh = 2;
                long rows = (long) batch * seq, d = (long) heads * dh;
                for (Tensor lengths : new Tensor[] {null, in.hostInts(2, 4)}) {
                    Tensor qkv = in.random(rows, 3 * d), g = in.random(rows, d), q = qkv.view(0, 0, rows, d), k = qkv.view(0, d, rows, d), v = qkv.view(0, 2 * d, rows, d);
                    Tensor probs = in.zeros((long) batch * heads * seq * seq), o = in.zeros(rows, d), dqkv = in.zeros(rows, 3 * d);
                    ref.attentionForward(batch, heads, q, k, v, 0.7f, lengths, probs, o);
                    ref.attentionBackward(batch, heads, q, k, v, 0.7f, probs, g, dqkv.view(0, 0, rows, d), dqkv.view(0, d, rows, d), dqkv.view(0, 2 * d, rows, d));
                    checks.add(new GradientCheck("dq | dk | dv" + (lengths == null ? "" : ", masked (padded keys: none)"), qkv, dqkv, () -> {
                        ref.attentionForward(batch, heads, q, k, v, 0.7f, lengths, probs, o);
                        return dot(o, g);
                    }));
                }
                return checks;
            });

    /** rows, vocabulary, d: y += table[ids] and its gradient dtable[ids] += dy, ids repeated (several rows into one); ids on the host. */
    static final Op EMBEDDING_ROWS = Op.of("embeddingRows", new long[][] {{1, 1, 1}, {7, 5, 3}, {9, 11, 7}, {300, 40, 17}, {300, 11, 33}, {65, 1000, 384}, {129, 9, 600}},
            (be, in, out, s) -> {
                Tensor ids = in.hostIndices((int) s[1], s[0]), y = in.random(s[0], s[2]), dtable = in.random(s[1], s[2]);
                be.gatherRowsAdd(ids, in.random(s[1], s[2]), y);
                be.scatterRowsAdd(ids, in.random(s[0], s[2]), dtable);
                out.expect("gathered (one addition an element)", y, 0);
                out.expect("scattered", dtable, 1e-6 * (s[0] + 1));
            }).refusing((be, in) -> be.gatherRowsAdd(in.hostInts(0, 7), in.random(5, 3), in.zeros(2, 3))).withGradient((ref, in) -> {
                Tensor ids = in.hostInts(3, 0, 3, 2, 3), table = in.random(4, 3), g = in.random(5, 3), y = in.zeros(5, 3), dtable = in.zeros(4, 3);
                ref.scatterRowsAdd(ids, g, dtable);
                return List.of(new GradientCheck("dtable", table, dtable, () -> {
                    y.segment().fill((byte) 0);
                    ref.gatherRowsAdd(ids, table, y);
                    return dot(y, g);
                }));
            });
}
