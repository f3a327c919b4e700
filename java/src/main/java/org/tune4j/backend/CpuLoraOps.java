package org.tune4j.backend;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.tune4j.bindings.tune4j_h;
import org.tune4j.tensor.Tensor;

/**
 * {@link CpuBackend}'s LoRA ops (the native kernels of lora.c and lora_mixed.c; one file of the backend, which extends
 * this, as {@link ReferenceLoraOps} is the reference's): the one-adapter layer forward and backward, merging, and the
 * mixed-adapter shrink, expand and fused forward, segmented and per row.
 */
abstract class CpuLoraOps extends CpuCompressedOps {
    @Override
    public void loraForward(Tensor x, Tensor mask, Tensor w, Tensor bias, Tensor a, Tensor b, float scale, Tensor h, Tensor y) {
        var d = LoraChecks.loraForward(x, mask, w, bias, a, b, scale, h, y);
        status(tune4j_h.t4j_lora_forward(d.t(), d.dIn(), d.dOut(), d.r(), seg(x), seg(mask), seg(w), seg(bias), seg(a), seg(b),
                scale, seg(h), seg(y)), "loraForward");
    }

    @Override
    public void loraBackward(Tensor x, Tensor mask, Tensor w, Tensor a, Tensor b, float scale, Tensor h, Tensor g, Tensor dx, Tensor da, Tensor db) {
        var d = LoraChecks.loraBackward(x, mask, w, a, b, scale, h, g, dx, da, db);
        status(tune4j_h.t4j_lora_backward(d.t(), d.dIn(), d.dOut(), d.r(), seg(x), seg(mask), seg(w), seg(a), seg(b), scale,
                seg(h), seg(g), seg(dx), seg(da), seg(db)), "loraBackward");
    }

    /** Where the packing is of another SIMD level or K block, or for fewer rows than it was packed for, the plain op, counted. */
    @Override
    public void loraForwardPacked(Tensor x, Tensor mask, PackedLinearWeights w, Tensor bias, Tensor a, Tensor b, float scale, Tensor h, Tensor y) {
        Tensor weight = BackendChecks.packedValues(w);
        var d = LoraChecks.loraForward(x, mask, weight, bias, a, b, scale, h, y);
        int rc = tune4j_h.t4j_lora_forward_packed(d.t(), d.dIn(), d.dOut(), d.r(), seg(x), seg(mask), w.packed(), seg(bias), seg(a), seg(b), scale, seg(h), seg(y));
        if (rc == tune4j_h.T4J_ERR_WRONG_PACKING) {
            w.countFallback();
            loraForward(x, mask, weight, bias, a, b, scale, h, y);
        } else {
            status(rc, "loraForwardPacked");
        }
    }

    /** On Wᵀ packed (w packed without it, or dx accumulated into: the plain op); a packing it cannot use: the plain op, counted. */
    @Override
    public void loraBackwardPacked(Tensor x, Tensor mask, PackedLinearWeights w, Tensor a, Tensor b, float scale, Tensor h, Tensor g, Tensor dx, boolean accumulate,
                                   Tensor da, Tensor db) {
        PackedLinearWeights wt = w == null ? null : w.transposed();
        if (wt == null || accumulate || dx == null) {
            super.loraBackwardPacked(x, mask, w, a, b, scale, h, g, dx, accumulate, da, db);
            return;
        }
        var d = LoraChecks.loraBackward(x, mask, w.weight(), a, b, scale, h, g, dx, da, db);
        int rc = tune4j_h.t4j_lora_backward_packed(d.t(), d.dIn(), d.dOut(), d.r(), seg(x), seg(mask), wt.packed(), seg(a), seg(b), scale, seg(h), seg(g), seg(dx), seg(da), seg(db));
        if (rc == tune4j_h.T4J_ERR_WRONG_PACKING) {
            wt.countFallback();
            super.loraBackwardPacked(x, mask, w, a, b, scale, h, g, dx, false, da, db);
        } else {
            status(rc, "loraBackwardPacked");
        }
    }

    @Override
    public void loraMerge(Tensor w, Tensor a, Tensor b, float scale, float sign) {
        var d = LoraChecks.loraMerge(w, a, b, scale, sign);
        status(tune4j_h.t4j_lora_merge(d.dIn(), d.dOut(), d.r(), seg(w), seg(a), seg(b), scale, sign), "loraMerge");
    }

    // ---- mixed-adapter LoRA ----

    @Override
    public void loraShrinkSegments(Tensor x, Tensor segStart, Tensor segAdapter, LoraAdapters adapters, Tensor h) {
        long t = LoraChecks.loraShrink(x, adapters, h);
        long nseg = LoraChecks.loraSegments(segStart, segAdapter, t, adapters.count());
        try (Arena call = Arena.ofConfined()) {
            status(tune4j_h.t4j_lora_shrink_segments(nseg, seg(segStart), seg(segAdapter), adapters.dIn(), pointers(call, adapters.a()), ranks(call, adapters), seg(x), x.ld(),
                    seg(h), h.ld()), "loraShrinkSegments");
        }
    }

    @Override
    public void loraExpandSegments(Tensor h, Tensor segStart, Tensor segAdapter, LoraAdapters adapters, Tensor y) {
        long t = LoraChecks.loraExpand(h, adapters, y);
        long nseg = LoraChecks.loraSegments(segStart, segAdapter, t, adapters.count());
        try (Arena call = Arena.ofConfined()) {
            status(tune4j_h.t4j_lora_expand_segments(nseg, seg(segStart), seg(segAdapter), adapters.dOut(), pointers(call, adapters.b()), ranks(call, adapters),
                    call.allocateFrom(ValueLayout.JAVA_FLOAT, adapters.scales()), seg(h), h.ld(), seg(y), y.ld()), "loraExpandSegments");
        }
    }

    @Override
    public void loraShrinkRows(Tensor x, Tensor rowAdapter, LoraAdapters adapters, Tensor h) {
        long t = LoraChecks.loraShrink(x, adapters, h);
        LoraChecks.loraRows(rowAdapter, t, adapters.count());
        try (Arena call = Arena.ofConfined()) {
            status(tune4j_h.t4j_lora_shrink_rows(t, seg(rowAdapter), adapters.dIn(), pointers(call, adapters.a()), ranks(call, adapters), seg(x), x.ld(), seg(h), h.ld()),
                    "loraShrinkRows");
        }
    }

    @Override
    public void loraExpandRows(Tensor h, Tensor rowAdapter, LoraAdapters adapters, Tensor y) {
        long t = LoraChecks.loraExpand(h, adapters, y);
        LoraChecks.loraRows(rowAdapter, t, adapters.count());
        try (Arena call = Arena.ofConfined()) {
            status(tune4j_h.t4j_lora_expand_rows(t, seg(rowAdapter), adapters.dOut(), pointers(call, adapters.b()), ranks(call, adapters),
                    call.allocateFrom(ValueLayout.JAVA_FLOAT, adapters.scales()), seg(h), h.ld(), seg(y), y.ld()), "loraExpandRows");
        }
    }

    @Override
    public void loraMixedForward(Tensor x, Tensor w, Tensor bias, Tensor segStart, Tensor segAdapter, LoraAdapters adapters, Tensor h, Tensor y) {
        long t = LoraChecks.loraMixedForward(x, w, bias, adapters, h, y);
        long nseg = LoraChecks.loraSegments(segStart, segAdapter, t, adapters.count());
        try (Arena call = Arena.ofConfined()) {
            status(tune4j_h.t4j_lora_mixed_forward(t, adapters.dIn(), adapters.dOut(), seg(x), x.ld(), seg(w), seg(bias), nseg, seg(segStart), seg(segAdapter), adapters.count(),
                    pointers(call, adapters.a()), pointers(call, adapters.b()), ranks(call, adapters), call.allocateFrom(ValueLayout.JAVA_FLOAT, adapters.scales()), seg(h), h.ld(),
                    seg(y), y.ld()), "loraMixedForward");
        }
    }

    /** Where the weights were packed at another SIMD level or K block, the plain mixed forward (the same bits), counted. */
    @Override
    public void loraMixedForwardPacked(Tensor x, PackedLinearWeights packed, Tensor bias, Tensor segStart, Tensor segAdapter, LoraAdapters adapters, Tensor h, Tensor y) {
        Tensor w = BackendChecks.packedValues(packed);
        long t = LoraChecks.loraMixedForward(x, w, bias, adapters, h, y);
        long nseg = LoraChecks.loraSegments(segStart, segAdapter, t, adapters.count());
        int rc;
        try (Arena call = Arena.ofConfined()) {
            rc = tune4j_h.t4j_lora_mixed_forward_packed(t, adapters.dIn(), adapters.dOut(), seg(x), x.ld(), packed.packed(), seg(bias), nseg, seg(segStart), seg(segAdapter),
                    adapters.count(), pointers(call, adapters.a()), pointers(call, adapters.b()), ranks(call, adapters), call.allocateFrom(ValueLayout.JAVA_FLOAT, adapters.scales()),
                    seg(h), h.ld(), seg(y), y.ld());
        }
        if (rc == tune4j_h.T4J_ERR_WRONG_PACKING) {
            packed.countFallback();
            loraMixedForward(x, w, bias, segStart, segAdapter, adapters, h, y);
        } else {
            status(rc, "loraMixedForwardPacked");
        }
    }

    private static MemorySegment ranks(Arena call, LoraAdapters adapters) {
        MemorySegment r = call.allocate(ValueLayout.JAVA_LONG, adapters.count());
        for (int i = 0; i < adapters.count(); i++) r.setAtIndex(ValueLayout.JAVA_LONG, i, adapters.rank(i));
        return r;
    }
}
