package org.tune4j.autograd;

import org.tune4j.backend.Backend;
import org.tune4j.tensor.Tensor;

/**
 * The tape ops only a vision transformer needs: patch extraction (a fixed permutation of each image's pixels), token
 * assembly (class token, patches, positions) and attention over a fused q | k | v projection. Recorded on the {@link Tape} they are given, forward and backward
 * side by side as the tape's own ops.
 */
public final class VisionOps {
    private VisionOps() {}

    /**
     * ViT token assembly: patches [batch·p, d] (embedded), a class token cls [1, d] and positions pos [p+1, d]
     * → tokens [batch·(p+1), d]; each sequence is the class token then its p patches, plus the positions.
     */
    public static Var tokens(Tape t, Var patches, Var cls, Var pos, int batch) {
        long d = cls.value.numel(), p = patches.value.dim(0) / batch, seq = p + 1;
        Tensor y = t.empty(batch * seq, d); // every row gets the class token or a patch, then the positions
        t.backend().vitTokens(patches.value, cls.value, pos.value, batch, y);
        Var out = t.result(y, patches, cls, pos);
        t.record(out, () -> {
            Tensor g = out.grad;
            if (g == null) return;
            if (t.needs(pos) || t.needs(cls)) {
                // Σ over the batch of each sequence's gradient [seq, d], in one call (g viewed [batch, seq·d]): its
                // first row is the class token's gradient. 2·batch calls of a row or a block each before.
                Tensor perPosition = t.zeros(seq * d);
                t.backend().sumRows(g.reshape(batch, seq * d), perPosition);
                if (t.needs(pos)) t.backend().axpy(1f, perPosition, t.gradOf(pos).reshape(seq * d));
                if (t.needs(cls)) t.backend().axpy(1f, perPosition.reshape(seq, d).view(0, 0, 1, d), t.gradOf(cls).view(0, 0, 1, d));
            }
            if (t.needs(patches))
                for (int b = 0; b < batch; b++) t.backend().axpy(1f, g.view(b * seq + 1, 0, p, d), t.gradOf(patches).view(b * p, 0, p, d));
        });
        return out;
    }

    /** Self-attention from a fused projection qkv [batch·seq, 3·d] (q | k | v) → [batch·seq, d], {@code heads} heads (a ViT block's). */
    public static Var attention(Tape t, Var qkv, int batch, int heads) {
        long rows = qkv.value.dim(0), d = qkv.value.dim(1) / 3, seq = rows / batch;
        Tensor q = qkv.value.view(0, 0, rows, d), k = qkv.value.view(0, d, rows, d), v = qkv.value.view(0, 2 * d, rows, d);
        float scale = (float) (1 / Math.sqrt((double) d / heads));
        Tensor probs = SequenceOps.keepsProbabilities(t) ? t.empty((long) batch * heads * seq * seq) : null, y = t.empty(rows, d);
        t.backend().attentionForward(batch, heads, q, k, v, scale, null, probs, y);
        Var out = t.result(y, qkv);
        t.record(out, () -> {
            if (out.grad == null || !t.needs(qkv)) return;
            boolean adds = t.gradBeta(qkv) != 0f; // a new gradient written, not zeroed and added into
            Tensor g = qkv.grad;
            t.backend().attentionBackward(batch, heads, q, k, v, scale, probs, out.grad, g.view(0, 0, rows, d), g.view(0, d, rows, d), g.view(0, 2 * d, rows, d),
                    adds);
        });
        return out;
    }

    /**
     * Rearranges each row of x [batch, n] into a block [rows, cols] of the result [batch·rows, cols]: element j of a
     * row goes to position {@code order}'s to[j] of its block (ViT patch extraction). n = rows·cols. A gather on the
     * backend ({@code gatherColumns}) both ways, so images on a GPU stay there.
     */
    public static Var permuteRows(Tape t, Var x, ColumnPermutation order, long rows, long cols) {
        long batch = x.value.dim(0), n = x.value.dim(1);
        if (order.size() != n || n != rows * cols) throw new IllegalArgumentException("a permutation of " + order.size() + " for rows of " + n + " into " + rows + "x" + cols);
        Backend b = t.backend();
        Tensor y = t.empty(batch * rows, cols);
        b.gatherColumns(t.onBackend(x.value), order.forward(b.memory()), y.reshape(batch, n));
        Var result = t.result(y, x);
        t.record(result, () -> {
            if (result.grad == null || !t.needs(x)) return;
            Tensor gx = t.gradOf(x), back = t.empty(batch, n);
            b.gatherColumns(result.grad.reshape(batch, n), order.backward(b.memory()), back); // the forward's gather, read the other way
            if (gx.memory() == b.memory()) {
                b.axpy(1f, back, gx); // both [batch, n], contiguous
            } else { // a host input's gradient under a device backend: added on the host
                Tensor hostBack = t.onHost(back);
                for (long i = 0; i < batch; i++)
                    for (long j = 0; j < n; j++) gx.setFloat(i, j, gx.getFloat(i, j) + hostBack.getFloat(i, j));
            }
        });
        return result;
    }
}
