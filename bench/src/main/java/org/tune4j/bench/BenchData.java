package org.tune4j.bench;

import java.lang.foreign.Arena;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/** Deterministic, non-trivial inputs for benchmarks (the values do not change the timing, zeros could). */
final class BenchData {
    private BenchData() {}

    static Tensor matrix(Arena arena, long rows, long cols) {
        Tensor t = Tensor.zeros(arena, DType.F32, rows, cols);
        long n = rows * cols;
        for (long i = 0; i < n; i++) t.setFloat(i, ((i * 7919) % 1000) / 1000f - 0.5f);
        return t;
    }
}
