package org.tune4j.backend.cuda;

import static org.tune4j.backend.cuda.CudaBackend.check;
import static org.tune4j.backend.cuda.CudaBackend.sameSize;

import java.lang.foreign.Arena;
import org.tune4j.bindings.tune4j_cuda_h;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * The one-adapter LoRA layer on the GPU, composed from cuBLAS GEMMs and the element-wise kernels (the same equations
 * as the CPU's fused kernel, ARCHITECTURE.md "Numerics"). A call whose tensors are not all in the backend's memory, or
 * whose dropout mask does not match x, returns false: {@link CudaBackend} falls back (counted), where the CPU's checks
 * name what is wrong.
 */
final class CudaLora {
    private CudaLora() {}

    /**
     * The layouts the kernels take, all F32: x [t, in], w [out, in], a [r, in], b [out, r], h [t, r], y (or g) [t, out];
     * anything else goes to the host, whose checks name what is wrong.
     */
    private static boolean shapes(Tensor x, Tensor w, Tensor a, Tensor b, Tensor h, Tensor y) {
        for (Tensor t : new Tensor[] {x, w, a, b, h, y}) if (t.rank() != 2 || t.dtype() != DType.F32) return false;
        long t = x.dim(0), in = x.dim(1), out = w.dim(0), r = a.dim(0);
        return w.dim(1) == in && a.dim(1) == in && b.dim(0) == out && b.dim(1) == r && h.dim(0) == t && h.dim(1) == r && y.dim(0) == t && y.dim(1) == out;
    }

    private static boolean sameShape(Tensor a, Tensor b) {
        return b.dtype() == a.dtype() && java.util.Arrays.equals(a.shape(), b.shape());
    }

    /** y = x Wᵀ + bias + s·(x̃ Aᵀ) Bᵀ, h = x̃ Aᵀ kept for the backward (x̃ = x ⊙ mask, or x). */
    static boolean forward(CudaBackend gpu, Tensor x, Tensor mask, Tensor w, Tensor bias, Tensor a, Tensor b, float scale, Tensor h, Tensor y) {
        if (!gpu.here(x, w, a, b, h, y) || !gpu.hereOrNull(mask, bias) || !shapes(x, w, a, b, h, y) || (mask != null && !sameSize(x, mask))
                || (bias != null && (bias.dtype() != DType.F32 || bias.numel() != w.dim(0)))) return false;
        try (Arena scratch = Arena.ofConfined()) {
            gpu.gemm(false, true, 1f, dropped(gpu, scratch, x, mask), a, 0f, h); // h = x̃ Aᵀ        [t, r]
        }
        gpu.gemm(false, true, 1f, x, w, 0f, y);                                 // y = x Wᵀ        [t, out]
        if (bias != null && !gpu.addRowInto(bias, y)) gpu.addRow(bias, y);
        gpu.gemm(false, true, scale, h, b, 1f, y);                              // y += s·h Bᵀ
        return true;
    }

    /** da += s·(g B)ᵀ x̃, db += s·gᵀ h, dx += g W + s·(g B) A (through the mask), dx optional. */
    static boolean backward(CudaBackend gpu, Tensor x, Tensor mask, Tensor w, Tensor a, Tensor b, float scale, Tensor h, Tensor g, Tensor dx, Tensor da, Tensor db) {
        if (!gpu.here(x, w, a, b, h, g, da, db) || !gpu.hereOrNull(mask, dx) || !shapes(x, w, a, b, h, g) || !sameShape(a, da) || !sameShape(b, db)
                || (dx != null && !sameShape(x, dx)) || (mask != null && !sameSize(x, mask))) return false;
        try (Arena scratch = Arena.ofConfined()) {
            Tensor gb = gpu.memory().empty(scratch, DType.F32, g.dim(0), b.dim(1)); // g B [t, r]
            gpu.gemm(false, false, 1f, g, b, 0f, gb);
            gpu.gemm(true, false, scale, gb, dropped(gpu, scratch, x, mask), 1f, da);  // da += s·(g B)ᵀ x̃
            gpu.gemm(true, false, scale, g, h, 1f, db);                               // db += s·gᵀ h
            if (dx != null) {
                gpu.gemm(false, false, 1f, g, w, 1f, dx);                             // dx += g W
                if (mask == null) {
                    gpu.gemm(false, false, scale, gb, a, 1f, dx);                     // dx += s·(g B) A
                } else {                                                              // dx += mask ⊙ (s·(g B) A)
                    Tensor t = gpu.memory().empty(scratch, DType.F32, dx.shape());
                    gpu.gemm(false, false, scale, gb, a, 0f, t);
                    check(tune4j_cuda_h.t4j_cuda_mul(t.numel(), t.pointer(), mask.pointer(), t.pointer(), gpu.stream()), "mul");
                    gpu.axpy(1f, t, dx);
                }
            }
        }
        return true;
    }

    /** x̃ = x ⊙ mask in {@code scratch} (LoRA's dropout), or x without a mask. */
    private static Tensor dropped(CudaBackend gpu, Arena scratch, Tensor x, Tensor mask) {
        if (mask == null) return x;
        Tensor xm = gpu.memory().empty(scratch, DType.F32, x.shape());
        check(tune4j_cuda_h.t4j_cuda_mul(x.numel(), x.pointer(), mask.pointer(), xm.pointer(), gpu.stream()), "mul");
        return xm;
    }
}
