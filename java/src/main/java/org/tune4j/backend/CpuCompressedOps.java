package org.tune4j.backend;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import org.tune4j.bindings.tune4j_h;
import org.tune4j.tensor.Tensor;

/**
 * {@link CpuBackend}'s int8, pruning and sparse ops (the native kernels of quant.c and sparse.c), and the two helpers
 * every downcall of the backend uses: arguments checked in Java first ({@link BackendChecks}), the native side trusts
 * them.
 */
abstract class CpuCompressedOps implements Backend {
    static MemorySegment seg(Tensor t) {
        return t == null ? MemorySegment.NULL : t.segment();
    }

    /** The tensors' addresses (NULL for a null one), an array of pointers for a kernel (checked alive just before, by BackendChecks). */
    static MemorySegment pointers(Arena call, java.util.List<Tensor> tensors) {
        MemorySegment p = call.allocate(ValueLayout.ADDRESS, tensors.size());
        for (int i = 0; i < tensors.size(); i++) p.setAtIndex(ValueLayout.ADDRESS, i, seg(tensors.get(i)));
        return p;
    }

    static void status(int rc, String op) {
        if (rc == tune4j_h.T4J_ERR_NO_MEMORY) throw new OutOfMemoryError(op + ": libtune4j could not allocate scratch memory");
        if (rc != tune4j_h.T4J_OK) throw new IllegalStateException(op + ": libtune4j returned status " + rc);
    }

    // ---- int8 ----

    @Override
    public void quantizeRows(Tensor x, Tensor q, Tensor scales) {
        long m = CompressedChecks.quantizeRows(x, q, scales);
        tune4j_h.t4j_quantize_rows(m, x.dim(1), x.segment(), x.ld(), q.segment(), q.ld(), scales.segment());
    }

    @Override
    public void dequantizeRows(Tensor q, Tensor scales, Tensor x) {
        long m = CompressedChecks.dequantizeRows(q, scales, x);
        tune4j_h.t4j_dequantize_rows(m, x.dim(1), q.segment(), q.ld(), scales.segment(), x.segment(), x.ld());
    }

    @Override
    public void int8Linear(Tensor x, Int8Weights w, Tensor bias, Activation act, Tensor y) {
        CompressedChecks.int8Linear(x, w, bias, act, y);
        status(tune4j_h.t4j_int8_linear(x.dim(0), w.rows(), w.cols(), x.segment(), x.ld(), w.packed(), seg(bias), act.code(),
                y.segment(), y.ld()), "int8Linear");
    }

    @Override
    public void int8LinearShared(Tensor x, Int8Weights[] w, Tensor[] bias, Activation act, Tensor[] y) {
        CompressedChecks.int8LinearShared(x, w, bias, act, y);
        int n = w.length;
        try (Arena call = Arena.ofConfined()) {
            MemorySegment packed = call.allocate(ValueLayout.ADDRESS, n), ldy = call.allocate(ValueLayout.JAVA_LONG, n);
            for (int l = 0; l < n; l++) {
                packed.setAtIndex(ValueLayout.ADDRESS, l, w[l].packed());
                ldy.setAtIndex(ValueLayout.JAVA_LONG, l, y[l].ld());
            }
            status(tune4j_h.t4j_int8_linear_shared(x.dim(0), x.dim(1), x.segment(), x.ld(), n, packed, pointers(call, Arrays.asList(bias)), act.code(),
                    pointers(call, Arrays.asList(y)), ldy), "int8LinearShared");
        }
    }

    @Override
    public void int8WeightOnlyLinear(Tensor x, Int8Weights w, Tensor bias, Activation act, Tensor y) {
        CompressedChecks.int8WeightOnlyLinear(x, w, bias, act, y);
        status(tune4j_h.t4j_int8_weight_only_linear(x.dim(0), w.rows(), w.cols(), x.segment(), x.ld(), w.packed(), seg(bias),
                act.code(), y.segment(), y.ld()), "int8WeightOnlyLinear");
    }

    @Override
    public void int8Gemm(Tensor a, Int8Weights w, Tensor c) {
        CompressedChecks.int8Gemm(a, w, c);
        status(tune4j_h.t4j_int8_gemm(a.dim(0), w.rows(), w.cols(), a.segment(), a.ld(), w.packed(), c.segment(), c.ld()), "int8Gemm");
    }

    @Override
    public void loraInt8Forward(Tensor x, Tensor mask, Int8Weights w, Tensor bias, Tensor a, Tensor b, float scale, Tensor h, Tensor y) {
        var d = LoraChecks.loraInt8Forward(x, mask, w, bias, a, b, scale, h, y);
        status(tune4j_h.t4j_lora_int8_forward(d.t(), d.dIn(), d.dOut(), d.r(), seg(x), seg(mask), w.packed(), seg(bias), seg(a), seg(b),
                scale, seg(h), seg(y)), "loraInt8Forward");
    }

    @Override
    public void loraInt8Backward(Tensor x, Tensor mask, Int8Weights w, Tensor a, Tensor b, float scale, Tensor h, Tensor g, Tensor dx, Tensor da, Tensor db) {
        var d = LoraChecks.loraInt8Backward(x, mask, w, a, b, scale, h, g, dx, da, db);
        status(tune4j_h.t4j_lora_int8_backward(d.t(), d.dIn(), d.dOut(), d.r(), seg(x), seg(mask), w.values().segment(), w.scales().segment(),
                seg(a), seg(b), scale, seg(h), seg(g), seg(dx), seg(da), seg(db)), "loraInt8Backward");
    }

    // ---- sparse ----

    @Override
    public float magnitudeThreshold(Tensor w, long count) {
        CompressedChecks.magnitudeThreshold(w, count);
        try (java.lang.foreign.Arena scratch = java.lang.foreign.Arena.ofConfined()) {
            MemorySegment buf = scratch.allocate(Math.max(1, w.numel()) * 4, 64);
            return tune4j_h.t4j_magnitude_threshold(w.numel(), w.segment(), count, buf);
        }
    }

    @Override
    public void magnitudeMask(Tensor w, float threshold, Tensor mask) {
        CompressedChecks.magnitudeMask(w, threshold, mask);
        tune4j_h.t4j_magnitude_mask(w.dim(0), w.dim(1), w.segment(), w.ld(), threshold, mask.segment());
    }

    @Override
    public void mask2to4(Tensor w, Tensor mask) {
        CompressedChecks.mask2to4(w, mask);
        tune4j_h.t4j_mask_2to4(w.dim(0), w.dim(1), w.segment(), w.ld(), mask.segment());
    }

    @Override
    public void applyMask(Tensor w, Tensor mask) {
        CompressedChecks.applyMask(w, mask);
        tune4j_h.t4j_apply_mask(w.dim(0), w.dim(1), w.segment(), w.ld(), mask.segment());
    }

    @Override
    public void csrLinear(Tensor x, CsrWeights w, Tensor bias, Activation act, Tensor y) {
        CompressedChecks.csrLinear(x, w, bias, act, y);
        status(tune4j_h.t4j_csr_linear(x.dim(0), w.rows(), w.cols(), x.segment(), x.ld(), w.rowPtr(), w.colIndex(), w.indexBits(),
                w.values().segment(), seg(bias), act.code(), y.segment(), y.ld()), "csrLinear");
    }

    @Override
    public void csrBackwardInput(Tensor g, CsrWeights w, Tensor dx) {
        CompressedChecks.csrBackwardInput(g, w, dx);
        status(tune4j_h.t4j_csr_backward_input(g.dim(0), w.rows(), w.cols(), g.segment(), g.ld(), w.rowPtr(), w.colIndex(),
                w.indexBits(), w.values().segment(), dx.segment(), dx.ld()), "csrBackwardInput");
    }

    @Override
    public void csrGradValues(Tensor g, Tensor x, CsrWeights w, Tensor dvalues) {
        CompressedChecks.csrGradValues(g, x, w, dvalues);
        status(tune4j_h.t4j_csr_grad_values(g.dim(0), w.rows(), w.cols(), g.segment(), g.ld(), x.segment(), x.ld(), w.rowPtr(),
                w.colIndex(), w.indexBits(), dvalues.segment()), "csrGradValues");
    }

    @Override
    public void sparse24Linear(Tensor x, Sparse24Weights w, Tensor bias, Activation act, Tensor y) {
        CompressedChecks.sparse24Linear(x, w, bias, act, y);
        status(tune4j_h.t4j_sparse24_linear(x.dim(0), w.rows(), w.cols(), x.segment(), x.ld(), w.values().segment(), w.meta(), seg(bias),
                act.code(), y.segment(), y.ld()), "sparse24Linear");
    }
}
