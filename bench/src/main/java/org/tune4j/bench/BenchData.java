package org.tune4j.bench;

import java.lang.foreign.Arena;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * Deterministic, non-trivial inputs for benchmarks (the values do not change the timing, zeros could), in the memory
 * tune4j's own tensors get (huge pages from 2 MiB up), so that a peer reading them reads alike.
 */
public final class BenchData {
    private BenchData() {}

    public static Tensor matrix(Arena arena, long rows, long cols) {
        return matrix(arena, rows, cols, 0);
    }

    /** A different matrix for each {@code variant}. */
    public static Tensor matrix(Arena arena, long rows, long cols, int variant) {
        Tensor t = Tensor.zeros(arena, DType.F32, rows, cols);
        long n = rows * cols;
        float[] row = new float[(int) Math.min(n, 1 << 20)];
        for (long start = 0; start < n; start += row.length) {
            int len = (int) Math.min(row.length, n - start);
            for (int i = 0; i < len; i++) row[i] = (((start + i) * 7919 + variant * 104729L) % 1000) / 1000f - 0.5f;
            java.lang.foreign.MemorySegment.copy(row, 0, t.segment(), java.lang.foreign.ValueLayout.JAVA_FLOAT, start * 4, len);
        }
        return t;
    }
}
