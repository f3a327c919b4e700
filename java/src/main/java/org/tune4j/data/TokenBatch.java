package org.tune4j.data;

import java.lang.foreign.Arena;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * A batch of token sequences padded to the longest one (right padding), as a BERT takes it: ids, token type
 * ids and position ids [batch·seq] (I32, sequence after sequence), and each sequence's length [batch] (I32):
 * its attention mask is 1 for the first lengths[b] tokens.
 */
public record TokenBatch(Tensor ids, Tensor typeIds, Tensor positions, Tensor lengths, int batch, int seq) {
    /** The padding id (BERT's [PAD]). */
    public static final int PAD = 0;

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
