package org.tune4j.backend.cuda;

import static org.tune4j.backend.cuda.CudaBackend.check;

import java.lang.foreign.Arena;
import org.tune4j.backend.BackendChecks;
import org.tune4j.bindings.tune4j_cuda_h;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * Which CUDA attention kernel takes a call of {@code Backend.attentionForward} / {@code attentionBackward}: the
 * fused one (vit.cu: q, k, v the thirds of one fused projection, no mask, up to T4J_CUDA_ATTN_MAX_SEQ tokens, a
 * block per sequence and head in shared memory), else the row kernels (seq.cu: any strides, a padding mask, up to
 * T4J_CUDA_ATTN_ROWS_MAX_SEQ tokens, a block per query row); none, and {@link CudaBackend} falls back to the CPU.
 */
final class CudaAttention {
    private CudaAttention() {}

    /**
     * The fused kernel's layout: q, k, v the three thirds of one [batch·seq, 3·d] matrix here (as the tape cuts them
     * from a fused projection), no padding mask, and sequences and heads within the kernel's shared-memory bounds.
     */
    private static boolean fusedAttention(CudaBackend gpu, int batch, int heads, Tensor q, Tensor k, Tensor v, Tensor lengths) {
        if (lengths != null || !gpu.hereStrided(q, k, v) || q.rank() != 2 || q.dtype() != DType.F32 || batch < 1 || heads < 1) return false;
        long d = q.dim(1), rows = q.dim(0);
        if (q.ld() != 3 * d || k.ld() != q.ld() || v.ld() != q.ld() || rows % batch != 0 || d % heads != 0) return false;
        if (k.pointer().address() != q.pointer().address() + 4 * d || v.pointer().address() != q.pointer().address() + 8 * d) return false;
        return rows / batch <= tune4j_cuda_h.T4J_CUDA_ATTN_MAX_SEQ && d / heads <= tune4j_cuda_h.T4J_CUDA_ATTN_MAX_HEAD_DIM;
    }

    /** The [rows, 3·d] matrix whose first third is the view q. */
    private static Tensor fused(CudaBackend gpu, Tensor q) {
        long rows = q.dim(0), d = q.dim(1);
        return Tensor.wrap(gpu.memory(), q.pointer().reinterpret(rows * 3 * d * 4), DType.F32, rows, 3 * d);
    }

    /**
     * Whether the row kernels take these: q, k, v and the other matrices F32 here, any row strides, all of q's shape, in
     * {@code batch} sequences of at most T4J_CUDA_ATTN_ROWS_MAX_SEQ tokens, heads dividing the width, probs here.
     */
    private static boolean rowAttention(CudaBackend gpu, int batch, int heads, Tensor q, Tensor probs, Tensor... same) {
        if (batch < 1 || heads < 1 || !gpu.hereStrided(q) || !gpu.here(probs) || q.rank() != 2 || q.dtype() != DType.F32) return false;
        long rows = q.dim(0), d = q.dim(1);
        if (rows % batch != 0 || d % heads != 0 || rows / batch > tune4j_cuda_h.T4J_CUDA_ATTN_ROWS_MAX_SEQ) return false;
        for (Tensor t : same) if (t == null || !gpu.hereStrided(t) || t.rank() != 2 || t.dtype() != DType.F32 || t.dim(0) != rows || t.dim(1) != d) return false;
        long seq = rows / batch;
        return probs.dtype() == DType.F32 && probs.numel() == batch * heads * seq * seq;
    }

    /**
     * Lengths [batch] the row kernel takes: on the host, checked to lie in [1, seq] and staged; on the device as they are
     * (not read on the host: the kernel reads no key past seq); null when neither.
     */
    private static Tensor stagedLengths(CudaBackend gpu, Arena arena, Tensor lengths, int batch, long seq) {
        if (lengths.dtype() != DType.I32 || lengths.numel() != batch || !lengths.isContiguous()) return null;
        if (lengths.memory() == gpu.memory()) return lengths.isAlive() ? lengths : null;
        if (!lengths.isHost()) return null;
        BackendChecks.valuesIn("lengths", lengths, 1, seq + 1);
        return lengths.copy(arena, gpu.memory());
    }

    /** The kernel for this layout run, true; false when none takes it (the caller falls back). */
    static boolean forward(CudaBackend gpu, int batch, int heads, Tensor q, Tensor k, Tensor v, float scale, Tensor lengths, Tensor probs, Tensor out) {
        if (fusedAttention(gpu, batch, heads, q, k, v, lengths) && gpu.here(probs, out) && out.numel() == q.numel()) {
            long seq = q.dim(0) / batch;
            if (probs.numel() == batch * heads * seq * seq) {
                check(tune4j_cuda_h.t4j_cuda_attention_forward(batch, heads, seq, q.dim(1) / heads, q.pointer(), scale, probs.pointer(), out.pointer(), gpu.stream()),
                        "attention_forward");
                return true;
            }
        }
        if (rowAttention(gpu, batch, heads, q, probs, k, v, out)) {
            long seq = q.dim(0) / batch;
            try (Arena scratch = Arena.ofConfined()) {
                Tensor len = lengths == null ? null : stagedLengths(gpu, scratch, lengths, batch, seq);
                if (lengths == null || len != null) {
                    check(tune4j_cuda_h.t4j_cuda_attention_rows_forward(batch, heads, seq, q.dim(1) / heads, q.pointer(), q.ld(), k.pointer(), k.ld(), v.pointer(),
                            v.ld(), scale, CudaBackend.p(len), probs.pointer(), out.pointer(), out.ld(), gpu.stream()), "attention_rows_forward");
                    return true;
                }
            }
        }
        return false;
    }

    /**
     * As {@link #forward} with the probabilities not kept (probs null, a no-grad forward): the kernels write them, so into
     * device memory of this call's own (the tape keeps them on a device anyway: {@code SequenceOps.keepsProbabilities}).
     */
    static boolean forwardUnkept(CudaBackend gpu, int batch, int heads, Tensor q, Tensor k, Tensor v, float scale, Tensor lengths, Tensor out) {
        if (q == null || batch < 1 || heads < 1 || q.rank() != 2 || q.dim(0) % batch != 0 || q.dim(0) / batch > org.tune4j.bindings.tune4j_h.T4J_ATTN_MAX_SEQ) return false;
        long seq = q.dim(0) / batch;
        try (Arena scratch = Arena.ofConfined()) {
            Tensor probs = gpu.memory().empty(scratch, DType.F32, (long) batch * heads * seq * seq);
            return forward(gpu, batch, heads, q, k, v, scale, lengths, probs, out);
        }
    }

    /** As {@link #forward}: dq, dk, dv accumulated by a kernel, true; false when none takes the layout. */
    static boolean backward(CudaBackend gpu, int batch, int heads, Tensor q, Tensor k, Tensor v, float scale, Tensor probs, Tensor dout, Tensor dq, Tensor dk,
            Tensor dv) {
        if (fusedAttention(gpu, batch, heads, q, k, v, null) && fusedAttention(gpu, batch, heads, dq, dk, dv, null) && gpu.here(probs, dout)) {
            long seq = q.dim(0) / batch;
            if (probs.numel() == batch * heads * seq * seq && dout.numel() == q.numel()) {
                Tensor qkv = fused(gpu, q), dqkv = fused(gpu, dq);
                try (Arena scratch = Arena.ofConfined()) { // the kernel overwrites; the Backend accumulates
                    Tensor g = gpu.memory().empty(scratch, DType.F32, qkv.dim(0), qkv.dim(1));
                    check(tune4j_cuda_h.t4j_cuda_attention_backward(batch, heads, seq, q.dim(1) / heads, qkv.pointer(), probs.pointer(), dout.pointer(), scale,
                            g.pointer(), gpu.stream()), "attention_backward");
                    gpu.axpy(1f, g, dqkv);
                }
                return true;
            }
        }
        if (rowAttention(gpu, batch, heads, q, probs, k, v, dout, dq, dk, dv)) {
            check(tune4j_cuda_h.t4j_cuda_attention_rows_backward(batch, heads, q.dim(0) / batch, q.dim(1) / heads, q.pointer(), q.ld(), k.pointer(), k.ld(),
                    v.pointer(), v.ld(), scale, probs.pointer(), dout.pointer(), dout.ld(), dq.pointer(), dq.ld(), dk.pointer(), dk.ld(), dv.pointer(), dv.ld(),
                    gpu.stream()), "attention_rows_backward");
            return true;
        }
        return false;
    }
}
