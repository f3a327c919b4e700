package org.tune4j.backend.cuda;

import static org.tune4j.backend.cuda.CudaBackend.check;

import java.lang.foreign.Arena;
import org.tune4j.backend.BackendChecks;
import org.tune4j.bindings.tune4j_cuda_h;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * The CUDA backend's embedding rows (seq.cu): y += table[ids] and its gradient dtable[ids] += dy. Each returns false
 * where the call does not fit the kernels (the backend then runs it on the host, whose checks name what is wrong).
 */
final class CudaEmbeddings {
    private CudaEmbeddings() {}

    /** y [n, d] += table [rows, d] at ids [n]. */
    static boolean gatherRowsAdd(CudaBackend gpu, Tensor ids, Tensor table, Tensor y) {
        if (!gpu.here(table, y) || !rowsById(gpu, ids, table) || y.rank() != 2 || y.dim(0) != ids.numel() || y.dim(1) != table.dim(1) || y.dtype() != DType.F32) return false;
        try (Arena scratch = Arena.ofConfined()) {
            check(tune4j_cuda_h.t4j_cuda_gather_rows_add(ids.numel(), table.dim(1), gpu.staged(scratch, ids).pointer(), table.dim(0), table.pointer(), y.pointer(),
                    gpu.stream()), "gather_rows_add");
        }
        return true;
    }

    /** dtable [rows, d] at ids [n] += dy [n, d] (repeated ids add up). */
    static boolean scatterRowsAdd(CudaBackend gpu, Tensor ids, Tensor dy, Tensor dtable) {
        if (!gpu.here(dy, dtable) || !rowsById(gpu, ids, dtable) || dy.rank() != 2 || dy.dim(0) != ids.numel() || dy.dim(1) != dtable.dim(1) || dy.dtype() != DType.F32) {
            return false;
        }
        try (Arena scratch = Arena.ofConfined()) {
            check(tune4j_cuda_h.t4j_cuda_scatter_rows_add(ids.numel(), dtable.dim(1), gpu.staged(scratch, ids).pointer(), dtable.dim(0), dy.pointer(), dtable.pointer(),
                    gpu.stream()), "scatter_rows_add");
        }
        return true;
    }

    /** ids: I32 on the host (checked here, each a row of {@code table} [rows, d] F32) or in this memory (the kernels guard them), else not taken. */
    private static boolean rowsById(CudaBackend gpu, Tensor ids, Tensor table) {
        if (ids == null || ids.dtype() != DType.I32 || !ids.isContiguous() || table.rank() != 2 || table.dtype() != DType.F32) return false;
        if (ids.memory() == gpu.memory()) return ids.isAlive();
        if (!ids.isHost()) return false;
        BackendChecks.valuesIn("ids", ids, 0, table.dim(0));
        return true;
    }
}
