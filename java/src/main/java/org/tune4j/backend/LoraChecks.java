package org.tune4j.backend;

import static org.tune4j.backend.BackendChecks.*;

import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/** The checks of the LoRA ops (one adapter, int8 base, many adapters in a batch), beside {@link BackendChecks}. */
public final class LoraChecks {
    private LoraChecks() {}

    /** segStart [nseg + 1] and segAdapter [nseg] (I32, host) of a mixed batch of t rows over n adapters. Returns nseg. */
    public static long loraSegments(Tensor segStart, Tensor segAdapter, long t, int n) {
        if (segAdapter == null) throw new IllegalArgumentException("segAdapter is null");
        long nseg = segAdapter.numel();
        vector("segAdapter", segAdapter, nseg, DType.I32);
        vector("segStart", segStart, nseg + 1, DType.I32);
        valuesIn("segAdapter", segAdapter, -1, n);
        if (segStart.getInt(0) != 0) throw new IllegalArgumentException("segStart[0] must be 0, is " + segStart.getInt(0));
        for (long s = 0; s < nseg; s++) {
            if (segStart.getInt(s + 1) < segStart.getInt(s)) {
                throw new IllegalArgumentException("segStart must not decrease: segStart[" + (s + 1) + "] = " + segStart.getInt(s + 1) + " < segStart[" + s + "] = " + segStart.getInt(s));
            }
        }
        if (segStart.getInt(nseg) != t) throw new IllegalArgumentException("segStart[" + nseg + "] must be the row count " + t + ", is " + segStart.getInt(nseg));
        return nseg;
    }

    /** rowAdapter [t] (I32, host), each in [-1, n). */
    static void loraRows(Tensor rowAdapter, long t, int n) {
        vector("rowAdapter", rowAdapter, t, DType.I32);
        valuesIn("rowAdapter", rowAdapter, -1, n);
    }

    /** x [t, d_in] (any ld), h [t, w >= max rank] contiguous and writable; returns t. */
    static long loraShrink(Tensor x, LoraAdapters adapters, Tensor h) {
        if (adapters == null) throw new IllegalArgumentException("adapters is null");
        writable("h", h);
        matrix("x", x);
        if (x.dim(1) != adapters.dIn()) throw new IllegalArgumentException("x has " + x.dim(1) + " columns, the adapters' A factors " + adapters.dIn());
        loraH(h, x.dim(0), adapters);
        adapters.checkHost();
        return x.dim(0);
    }

    /** h [t, w >= max rank] contiguous, y [t, d_out] (any ld) writable; returns t. */
    static long loraExpand(Tensor h, LoraAdapters adapters, Tensor y) {
        if (adapters == null) throw new IllegalArgumentException("adapters is null");
        writable("y", y);
        matrix("h", h);
        matrix("y", y);
        loraH(h, h.dim(0), adapters);
        if (y.dim(0) != h.dim(0) || y.dim(1) != adapters.dOut()) {
            throw new IllegalArgumentException("y must be " + h.dim(0) + "x" + adapters.dOut() + " (h's rows, the adapters' d_out), is " + y.dim(0) + "x" + y.dim(1));
        }
        adapters.checkHost();
        return h.dim(0);
    }

    /** The fused mixed forward: x, h as shrink; w [d_out, d_in] contiguous (d_out the adapters' too), bias [d_out] or null, y [t, d_out] writable. Returns t. */
    static long loraMixedForward(Tensor x, Tensor w, Tensor bias, LoraAdapters adapters, Tensor h, Tensor y) {
        long t = loraShrink(x, adapters, h);
        matrix("w", w);
        contiguous("w", w, adapters.dOut(), adapters.dIn());
        if (bias != null) vector("bias", bias, adapters.dOut());
        writable("y", y);
        matrix("y", y, t, adapters.dOut());
        return t;
    }

    private static void loraH(Tensor h, long t, LoraAdapters adapters) {
        matrix("h", h);
        if (h.dim(1) < adapters.maxRank()) throw new IllegalArgumentException("h has " + h.dim(1) + " columns, fewer than the largest rank " + adapters.maxRank());
        contiguous("h", h, t, h.dim(1));
    }

    /** Dimensions of a LoRA layer: t, d_in, d_out, r, read off x, w and a, and every other tensor checked against them. */
    record LoraDims(long t, long dIn, long dOut, long r) {}

    /** The LoRA dimensions with an f32 base w [d_out, d_in] contiguous. */
    static LoraDims lora(Tensor x, Tensor mask, Tensor w, Tensor a, Tensor b, float scale) {
        matrix("x", x);
        matrix("w", w);
        contiguous("w", w, w.dim(0), x.dim(1));
        return adapter(x, mask, x.dim(1), w.dim(0), a, b, scale);
    }

    /** The LoRA dimensions with an int8 base: d_out, d_in from the weights. */
    static LoraDims loraInt8(Tensor x, Tensor mask, Int8Weights w, Tensor a, Tensor b, float scale) {
        if (w == null) throw new IllegalArgumentException("w is null");
        if (!w.isAlive()) throw new IllegalArgumentException("w: its memory was freed (the arena is closed)");
        matrix("x", x);
        return adapter(x, mask, w.cols(), w.rows(), a, b, scale);
    }

    /** x [t, d_in], a [r, d_in], b [d_out, r] contiguous, mask [t, d_in] or null, scale finite, over a base of d_out x d_in. */
    private static LoraDims adapter(Tensor x, Tensor mask, long dIn, long dOut, Tensor a, Tensor b, float scale) {
        matrix("a", a);
        long t = x.dim(0), r = a.dim(0);
        contiguous("x", x, t, dIn);
        contiguous("a", a, r, dIn);
        contiguous("b", b, dOut, r);
        optionalContiguous("mask", mask, t, dIn);
        finite("scale", scale);
        return new LoraDims(t, dIn, dOut, r);
    }

    /** As {@link #loraInt8}, with the forward's bias [dOut] (or null), h [t, r] and y [t, dOut] (contiguous, writable). */
    static LoraDims loraInt8Forward(Tensor x, Tensor mask, Int8Weights w, Tensor bias, Tensor a, Tensor b, float scale, Tensor h, Tensor y) {
        writable("h", h, "y", y);
        return forwardOutputs(loraInt8(x, mask, w, a, b, scale), bias, h, y);
    }

    /** The forward: x [t, d_in], w [d_out, d_in], a [r, d_in], b [d_out, r], bias [d_out] or null; h [t, r] and y [t, d_out] written. */
    static LoraDims loraForward(Tensor x, Tensor mask, Tensor w, Tensor bias, Tensor a, Tensor b, float scale, Tensor h, Tensor y) {
        writable("h", h, "y", y);
        return forwardOutputs(lora(x, mask, w, a, b, scale), bias, h, y);
    }

    private static LoraDims forwardOutputs(LoraDims d, Tensor bias, Tensor h, Tensor y) {
        if (bias != null) vector("bias", bias, d.dOut());
        contiguous("h", h, d.t(), d.r());
        contiguous("y", y, d.t(), d.dOut());
        return d;
    }

    /** The backward: the forward's tensors, g [t, d_out]; dx [t, d_in] (or null), da [r, d_in], db [d_out, r] written. */
    static LoraDims loraBackward(Tensor x, Tensor mask, Tensor w, Tensor a, Tensor b, float scale, Tensor h, Tensor g, Tensor dx, Tensor da, Tensor db) {
        writable("dx", dx, "da", da, "db", db);
        return gradients(lora(x, mask, w, a, b, scale), h, g, dx, da, db);
    }

    /** As {@link #loraBackward}, with an int8 base. */
    static LoraDims loraInt8Backward(Tensor x, Tensor mask, Int8Weights w, Tensor a, Tensor b, float scale, Tensor h, Tensor g, Tensor dx, Tensor da, Tensor db) {
        writable("dx", dx, "da", da, "db", db);
        return gradients(loraInt8(x, mask, w, a, b, scale), h, g, dx, da, db);
    }

    private static LoraDims gradients(LoraDims d, Tensor h, Tensor g, Tensor dx, Tensor da, Tensor db) {
        contiguous("h", h, d.t(), d.r());
        contiguous("g", g, d.t(), d.dOut());
        optionalContiguous("dx", dx, d.t(), d.dIn());
        contiguous("da", da, d.r(), d.dIn());
        contiguous("db", db, d.dOut(), d.r());
        return d;
    }

    /** w [d_out, d_in] (written) += sign · scale · b a. */
    static LoraDims loraMerge(Tensor w, Tensor a, Tensor b, float scale, float sign) {
        writable("w", w);
        matrix("w", w);
        matrix("a", a);
        long dOut = w.dim(0), dIn = w.dim(1), r = a.dim(0);
        contiguous("w", w, dOut, dIn);
        contiguous("a", a, r, dIn);
        contiguous("b", b, dOut, r);
        finite("scale", scale);
        if (sign != 1f && sign != -1f) throw new IllegalArgumentException("sign must be +1 or -1, is " + sign);
        return new LoraDims(0, dIn, dOut, r);
    }
}
