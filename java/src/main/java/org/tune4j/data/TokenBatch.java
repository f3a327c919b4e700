package org.tune4j.data;

import java.lang.foreign.Arena;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Memory;
import org.tune4j.tensor.Tensor;

/**
 * A batch of token sequences padded to the longest one (right padding), as a BERT takes it: ids, token type
 * ids and position ids [batch·seq] (I32, sequence after sequence), and each sequence's length [batch] (I32):
 * its attention mask is 1 for the first lengths[b] tokens. {@code pooling} [batch, batch·seq] (F32: 1/lengths[b] over
 * sequence b's tokens, mean pooling as a product) is made by {@link #in} beside tensors moved to a device, and is null
 * otherwise (the tape makes it from the lengths).
 */
public record TokenBatch(Tensor ids, Tensor typeIds, Tensor positions, Tensor lengths, int batch, int seq, Tensor pooling) {
    /** The padding id (BERT's [PAD]). */
    public static final int PAD = 0;

    public TokenBatch(Tensor ids, Tensor typeIds, Tensor positions, Tensor lengths, int batch, int seq) {
        this(ids, typeIds, positions, lengths, batch, seq, null);
    }

    /**
     * This batch with its tensors in {@code memory} (a GPU's), made in {@code arena}, and its mean-pooling matrix made
     * there too: a step on it reads nothing from the host (what a step recorded as a CUDA graph needs). The lengths are
     * checked here, on the host, since a device cannot check them.
     */
    public TokenBatch in(Arena arena, Memory memory) {
        Tensor pool = Tensor.zeros(arena, DType.F32, batch, (long) batch * seq);
        for (int b = 0; b < batch; b++) {
            int n = lengths.getInt(b);
            if (n < 1 || n > seq) throw new IllegalArgumentException("lengths[" + b + "] = " + n + " is outside [1, " + seq + "]");
            for (long t = 0; t < n; t++) pool.setFloat(b, b * seq + t, 1f / n);
        }
        return new TokenBatch(ids.copy(arena, memory), typeIds.copy(arena, memory), positions.copy(arena, memory), lengths.copy(arena, memory), batch, seq,
                memory.isHost() ? pool : pool.copy(arena, memory));
    }

    /** Pads {@code ids} (and {@code typeIds}, null for all 0) into one batch in {@code arena}; every sequence needs a token. */
    public static TokenBatch of(Arena arena, int[][] ids, int[][] typeIds) {
        if (ids.length == 0) throw new IllegalArgumentException("a batch needs at least one sequence");
        int seq = 0;
        for (int b = 0; b < ids.length; b++) {
            if (ids[b].length == 0) throw new IllegalArgumentException("sequence " + b + " is empty");
            if (typeIds != null && typeIds[b].length != ids[b].length) {
                throw new IllegalArgumentException("sequence " + b + " has " + ids[b].length + " ids but " + typeIds[b].length + " token type ids");
            }
            seq = Math.max(seq, ids[b].length);
        }
        int batch = ids.length;
        long n = (long) batch * seq;
        Tensor tIds = Tensor.zeros(arena, DType.I32, n), tTypes = Tensor.zeros(arena, DType.I32, n), tPos = Tensor.zeros(arena, DType.I32, n);
        Tensor tLengths = Tensor.zeros(arena, DType.I32, batch);
        for (int b = 0; b < batch; b++) {
            tLengths.setInt(b, ids[b].length);
            for (int t = 0; t < seq; t++) {
                long i = (long) b * seq + t;
                tPos.setInt(i, t);
                tIds.setInt(i, t < ids[b].length ? ids[b][t] : PAD);
                tTypes.setInt(i, typeIds != null && t < ids[b].length ? typeIds[b][t] : 0);
            }
        }
        return new TokenBatch(tIds, tTypes, tPos, tLengths, batch, seq);
    }
}
