package org.tune4j.autograd;

import org.tune4j.backend.BackendChecks;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * Ops on a batch of token sequences (a BERT's): the embedding lookup, attention over separate q, k, v with a padding
 * mask, pooling into one row each; recorded on the {@link Tape} they are given, forward and backward side by side.
 */
public final class SequenceOps {
    private SequenceOps() {}

    /** An embedding lookup: y [n, d] = table [vocab, d] at rows ids [n] (I32); the gradient is scattered back by id. */
    public static Var embedding(Tape t, Var table, Tensor ids) {
        Tensor y = t.zeros(ids.numel(), table.value.dim(1));
        t.backend().gatherRowsAdd(ids, table.value, y);
        Var out = t.result(y, table);
        t.record(out, () -> {
            if (out.grad != null && t.needs(table)) t.scatterRowsIntoGrad(table, ids, out.grad);
        });
        return out;
    }

    /**
     * Self-attention from separate projections q, k, v [batch·seq, d] (BERT's query, key, value) → [batch·seq, d],
     * {@code heads} heads; {@code lengths} [batch] (I32) masks each sequence's padded keys, or null.
     */
    public static Var attention(Tape t, Var q, Var k, Var v, int batch, int heads, Tensor lengths) {
        long rows = q.value.dim(0), d = q.value.dim(1), seq = rows / batch;
        float scale = (float) (1 / Math.sqrt((double) d / heads));
        Tensor probs = keepsProbabilities(t) ? t.empty((long) batch * heads * seq * seq) : null, y = t.empty(rows, d);
        t.backend().attentionForward(batch, heads, q.value, k.value, v.value, scale, lengths, probs, y);
        Var out = t.result(y, q, k, v);
        t.record(out, () -> {
            if (out.grad == null) return; // the kernel writes all three: a frozen one's gradient goes to scratch
            // written, not added, when none of the three has a gradient yet (and no two are one Var): no pass zeroes them
            boolean write = q != k && k != v && q != v && firstGrad(t, q) && firstGrad(t, k) && firstGrad(t, v);
            t.backend().attentionBackward(batch, heads, q.value, k.value, v.value, scale, probs, out.grad, attentionGrad(t, q, write, rows, d),
                    attentionGrad(t, k, write, rows, d), attentionGrad(t, v, write, rows, d), !write);
        });
        return out;
    }

    /**
     * Whether an attention forward keeps its probabilities [batch, heads, seq, seq]: for the backward when the tape
     * records, and always on a device, whose kernels write them (memory made per call would not survive a CUDA graph's
     * capture). A host no-grad forward keeps none (MiniLM's attention 5% faster at batch 1, and no matrix per head goes
     * through memory).
     */
    static boolean keepsProbabilities(Tape t) {
        return t.recording() || !t.backend().memory().isHost();
    }

    /** Whether attention's gradient for v would be v's first (or go to scratch: v needs none). */
    private static boolean firstGrad(Tape t, Var v) {
        return !t.needs(v) || t.gradIsNew(v);
    }

    /** Where attention's backward puts v's gradient: v's (new and unwritten when {@code write}), or scratch [rows, d]. */
    private static Tensor attentionGrad(Tape t, Var v, boolean write, long rows, long d) {
        if (t.needs(v)) return write ? (v.grad = t.emptyLike(v.value)) : t.gradOf(v);
        return write ? t.empty(rows, d) : t.zeros(rows, d);
    }

    /**
     * The mean over each sequence's first lengths[b] rows of x [batch·seq, d] → [batch, d] (sentence-transformers'
     * mean pooling over the attention mask), as one product with the pooling matrix P [batch, batch·seq].
     */
    public static Var meanPool(Tape t, Var x, Tensor lengths, int batch) {
        if (batch < 1 || x.value.rank() != 2 || x.value.dim(0) % batch != 0) throw new IllegalArgumentException("x " + x.value + " is not " + batch + " sequences of rows");
        if (lengths.dtype() != DType.I32 || lengths.numel() != batch) throw new IllegalArgumentException("lengths must be " + batch + " I32 values, is " + lengths);
        long rows = x.value.dim(0), seq = rows / batch;
        Tensor weights = t.hostTensor(true, batch, rows), hostLengths = t.onHost(lengths);
        BackendChecks.valuesIn("lengths", hostLengths, 1, seq + 1);
        for (int b = 0; b < batch; b++) {
            int n = hostLengths.getInt(b);
            for (long i = 0; i < n; i++) weights.setFloat(b, b * seq + i, 1f / n);
        }
        return pooled(t, x, t.onBackend(weights));
    }

    /**
     * As {@link #meanPool(Tape, Var, Tensor, int)} with the pooling matrix pool [batch, rows] given (TokenBatch.in makes it
     * beside a batch moved to a GPU: nothing read from the host): pool · x.
     */
    public static Var meanPool(Tape t, Var x, Tensor pool) {
        if (pool == null || pool.rank() != 2 || x.value.rank() != 2 || x.value.dim(0) != pool.dim(1))
            throw new IllegalArgumentException("a pooling matrix for x " + x.value + " must be [batch, " + (x.value.rank() == 2 ? x.value.dim(0) : "rows") + "], is " + pool);
        return pooled(t, x, t.onBackend(pool));
    }

    /** pool [batch, rows] · x [rows, d]. */
    private static Var pooled(Tape t, Var x, Tensor pool) {
        Tensor y = t.empty(pool.dim(0), x.value.dim(1));
        t.backend().gemm(false, false, 1f, pool, x.value, 0f, y);
        Var out = t.result(y, x);
        t.record(out, () -> {
            if (out.grad != null && t.needs(x)) t.backend().gemm(true, false, 1f, pool, out.grad, 1f, t.gradOf(x));
        });
        return out;
    }
}
