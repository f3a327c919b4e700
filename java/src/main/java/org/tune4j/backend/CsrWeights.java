package org.tune4j.backend;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.tune4j.bindings.tune4j_h;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.HostMemory;
import org.tune4j.tensor.Tensor;

/**
 * A pruned weight matrix [n, k] (row j = output channel j) in CSR: row pointers (int64, n + 1), column
 * indices (uint16 when k ≤ 65536, else int32) and the nonzero values (f32). The structure is fixed;
 * fine-tuning changes the values only, so the sparsity survives training.
 */
public final class CsrWeights {
    private final long rows;
    private final long cols;
    private final long nnz;
    private final int indexBits;
    private final MemorySegment rowPtr;
    private final MemorySegment colIndex;
    private final Tensor values;

    private CsrWeights(long rows, long cols, long nnz, int indexBits, MemorySegment rowPtr, MemorySegment colIndex, Tensor values) {
        this.rows = rows;
        this.cols = cols;
        this.nnz = nnz;
        this.indexBits = indexBits;
        this.rowPtr = rowPtr;
        this.colIndex = colIndex;
        this.values = values;
    }

    /** The nonzeros of w [n, k] (F32, contiguous), in {@code arena}. */
    public static CsrWeights fromDense(Arena arena, Tensor w) {
        BackendChecks.matrix("w", w);
        long n = w.dim(0), k = w.dim(1);
        BackendChecks.contiguous("w", w, n, k);
        long nnz = tune4j_h.t4j_csr_nnz(n, k, w.segment(), k);
        int bits = k <= 65536 ? 16 : 32;
        MemorySegment rowPtr = arena.allocate((n + 1) * 8, 64);
        MemorySegment colIndex = HostMemory.allocate(arena, Math.max(1, nnz) * (bits / 8));
        Tensor values = Tensor.zeros(arena, DType.F32, nnz);
        tune4j_h.t4j_csr_from_dense(n, k, w.segment(), k, bits, rowPtr, colIndex, values.segment());
        return new CsrWeights(n, k, nnz, bits, rowPtr, colIndex, values);
    }

    public long rows() {
        return rows;
    }

    public long cols() {
        return cols;
    }

    public long nnz() {
        return nnz;
    }

    /** Fraction of zeros, 0 to 1. */
    public double sparsity() {
        return rows * cols == 0 ? 0 : 1.0 - (double) nnz / ((double) rows * cols);
    }

    /** 16 or 32. */
    public int indexBits() {
        return indexBits;
    }

    /** First nonzero of row j (row j's nonzeros are [rowStart(j), rowStart(j + 1))). */
    public long rowStart(long j) {
        return rowPtr.getAtIndex(ValueLayout.JAVA_LONG, j);
    }

    /** Column of nonzero e. */
    public long col(long e) {
        return indexBits == 16 ? Short.toUnsignedInt(colIndex.getAtIndex(ValueLayout.JAVA_SHORT, e)) : colIndex.getAtIndex(ValueLayout.JAVA_INT, e);
    }

    /** The nonzero values [nnz] (F32): what an optimizer updates. */
    public Tensor values() {
        return values;
    }

    MemorySegment rowPtr() {
        return rowPtr;
    }

    MemorySegment colIndex() {
        return colIndex;
    }

    boolean isAlive() {
        return rowPtr.scope().isAlive() && values.isAlive();
    }

    /** The dense matrix again (zeros where pruned), in {@code arena}. */
    public Tensor toDense(Arena arena) {
        Tensor w = Tensor.zeros(arena, DType.F32, rows, cols);
        for (long j = 0; j < rows; j++)
            for (long e = rowStart(j); e < rowStart(j + 1); e++) w.setFloat(j, col(e), values.getFloat(e));
        return w;
    }

    @Override
    public String toString() {
        return String.format("CsrWeights[%dx%d, nnz %d, %.1f%% sparse]", rows, cols, nnz, 100 * sparsity());
    }
}
