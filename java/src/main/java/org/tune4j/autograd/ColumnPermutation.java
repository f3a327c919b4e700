package org.tune4j.autograd;

import java.lang.foreign.Arena;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Memory;
import org.tune4j.tensor.Tensor;

/**
 * A fixed permutation of a row's n columns (a ViT's pixels into patches): column j goes to position {@code to[j]}. Its
 * gather indices both ways ({@code Backend.gatherColumns}) are I32 tensors made once in each memory they are used in,
 * so that a step on a GPU copies nothing from the host for them.
 */
public final class ColumnPermutation {
    private final int[] to, from;
    private final Map<Memory, Tensor[]> indices = new ConcurrentHashMap<>(); // by memory: {gather for the forward, for the backward}

    public ColumnPermutation(long[] to) {
        int n = to.length;
        this.to = new int[n];
        this.from = new int[n];
        java.util.Arrays.fill(from, -1);
        for (int j = 0; j < n; j++) {
            if (to[j] < 0 || to[j] >= n || from[(int) to[j]] >= 0) throw new IllegalArgumentException("not a permutation of " + n + " columns: position " + to[j] + " at " + j);
            this.to[j] = (int) to[j];
            from[(int) to[j]] = j;
        }
    }

    public int size() {
        return to.length;
    }

    /** The forward's index in {@code memory}: y[i, p] = x[i, forward[p]], the column that goes to position p. */
    Tensor forward(Memory memory) {
        return in(memory)[0];
    }

    /** The backward's: dx[i, j] += dy[i, backward[j]], the position column j went to. */
    Tensor backward(Memory memory) {
        return in(memory)[1];
    }

    private Tensor[] in(Memory memory) {
        return indices.computeIfAbsent(memory, m -> {
            Arena arena = Arena.ofAuto(); // freed with this permutation (its model)
            Tensor[] out = new Tensor[2];
            int[][] values = {from, to};
            for (int k = 0; k < 2; k++) {
                Tensor host = Tensor.zeros(arena, DType.I32, to.length);
                for (int j = 0; j < to.length; j++) host.setInt(j, values[k][j]);
                out[k] = m.isHost() ? host : host.copy(arena, m);
            }
            return out;
        });
    }
}
