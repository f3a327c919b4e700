package org.tune4j.backend;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.tune4j.bindings.tune4j_h;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * A weight matrix [n, k] with 2:4 structured sparsity along k: of each group of 4 weights the 2 of
 * largest magnitude are kept (ties to the lower position). n·k/2 values (f32) and one position byte per
 * group (first | second &lt;&lt; 2), both in the tiled order of tune4j.h ({@code T4J_24_ROWS} rows x
 * {@code T4J_24_GROUPS} groups per tile), so that the kernel streams them; {@link #value} and
 * {@link #position} read them by row and group.
 */
public final class Sparse24Weights {
    private final long rows;
    private final long cols;
    private final Tensor values;
    private final MemorySegment meta;

    private Sparse24Weights(long rows, long cols, Tensor values, MemorySegment meta) {
        this.rows = rows;
        this.cols = cols;
        this.values = values;
        this.meta = meta;
    }

    /** Prunes w [n, k] (F32, contiguous, k a multiple of 4) to 2:4 and compresses it, in {@code arena}. */
    public static Sparse24Weights fromDense(Arena arena, Tensor w) {
        BackendChecks.matrix("w", w);
        long n = w.dim(0), k = w.dim(1);
        BackendChecks.contiguous("w", w, n, k);
        if (k % 4 != 0) throw new IllegalArgumentException("w: 2:4 sparsity needs k divisible by 4, k = " + k);
        Tensor values = Tensor.zeros(arena, DType.F32, n * (k / 2));
        MemorySegment meta = arena.allocate(Math.max(1, n * (k / 4)), 64);
        tune4j_h.t4j_sparse24_compress(n, k, w.segment(), k, values.segment(), meta);
        return new Sparse24Weights(n, k, values, meta);
    }

    public long rows() {
        return rows;
    }

    public long cols() {
        return cols;
    }

    /** The kept values, n·k/2 in the tiled order. */
    public Tensor values() {
        return values;
    }

    /** Index of the meta byte of row j, group g in the tiled layout (tune4j.h); its values sit at twice that. */
    private long offset(long j, long g) {
        long r = tune4j_h.T4J_24_ROWS, gt = tune4j_h.T4J_24_GROUPS, groups = cols / 4;
        long rowsB = Math.min(r, rows - j / r * r), groupsB = Math.min(gt, groups - g / gt * gt);
        return (j / r) * r * groups + rowsB * (g / gt) * gt + (j % r) * groupsB + g % gt;
    }

    /** Position (0 to 3) within group g of row j of the kept value t (0 or 1). */
    public int position(long j, long g, int t) {
        int b = meta.get(ValueLayout.JAVA_BYTE, offset(j, g));
        return t == 0 ? b & 3 : (b >> 2) & 3;
    }

    /** The kept value t (0 or 1) of group g of row j. */
    public float value(long j, long g, int t) {
        return values.getFloat(2 * offset(j, g) + t);
    }

    MemorySegment meta() {
        return meta;
    }

    boolean isAlive() {
        return values.isAlive() && meta.scope().isAlive();
    }

    @Override
    public String toString() {
        return "Sparse24Weights[" + rows + "x" + cols + "]";
    }
}
