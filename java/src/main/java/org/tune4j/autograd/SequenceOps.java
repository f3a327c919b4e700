package org.tune4j.autograd;

import org.tune4j.backend.BackendChecks;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/** Pooling a batch of token sequences into one row each, on the {@link Tape} it is given (forward and backward side by side). */
public final class SequenceOps {
    private SequenceOps() {}

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
