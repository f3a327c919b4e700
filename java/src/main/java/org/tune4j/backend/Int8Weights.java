package org.tune4j.backend;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Objects;
import org.tune4j.bindings.tune4j_h;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * An int8 weight matrix [n, k] (row j = output channel j) with one scale per output channel, in the two
 * forms the backends use: the plain values and scales ({@link ReferenceBackend}), and the packed layout
 * of the native kernels, prepared once here. Symmetric, values in [-127, 127] (DESIGN.md "Numerics").
 */
public final class Int8Weights {
    /** Largest k for which the int32 accumulation of the kernels is exact. */
    public static final long MAX_K = 65536;

    private final Tensor values;
    private final Tensor scales;
    private final MemorySegment packed;

    private Int8Weights(Tensor values, Tensor scales, MemorySegment packed) {
        this.values = values;
        this.scales = scales;
        this.packed = packed;
    }

    /**
     * Quantizes f32 weights [n, k] per output channel (scale = absmax/127, round half to even) with
     * {@code backend}, and packs them; everything lives in {@code arena}.
     */
    public static Int8Weights quantize(Arena arena, Backend backend, Tensor w) {
        BackendChecks.matrix("w", w);
        long n = w.dim(0), k = w.dim(1);
        Tensor q = Tensor.zeros(arena, DType.I8, n, k);
        Tensor s = Tensor.zeros(arena, DType.F32, n);
        backend.quantizeRows(w, q, s);
        return of(arena, q, s);
    }

    /** Packs already quantized weights q [n, k] (I8) and their scales [n] (F32). */
    public static Int8Weights of(Arena arena, Tensor q, Tensor scales) {
        Objects.requireNonNull(arena, "arena");
        if (q == null || q.dtype() != DType.I8 || q.rank() != 2 || !q.isContiguous()) {
            throw new IllegalArgumentException("q must be a contiguous I8 matrix, is " + q);
        }
        if (!q.isAlive()) throw new IllegalArgumentException("q: its memory was freed (the arena is closed)");
        long n = q.dim(0), k = q.dim(1);
        if (k > MAX_K) throw new IllegalArgumentException("k = " + k + " exceeds " + MAX_K + ", where int32 accumulation stays exact");
        BackendChecks.vector("scales", scales, n);
        MemorySegment packed = arena.allocate(tune4j_h.t4j_q8_packed_size(n, k), 64);
        tune4j_h.t4j_q8_pack(n, k, q.segment(), k, scales.segment(), packed);
        return new Int8Weights(q, scales, packed);
    }

    /** Output channels. */
    public long rows() {
        return values.dim(0);
    }

    /** Inputs per channel. */
    public long cols() {
        return values.dim(1);
    }

    /** The int8 values [n, k]. */
    public Tensor values() {
        return values;
    }

    /** One scale per output channel [n]. */
    public Tensor scales() {
        return scales;
    }

    /** The native kernels' layout (tune4j.h t4j_q8_pack). */
    public MemorySegment packed() {
        return packed;
    }

    boolean isAlive() {
        return values.isAlive() && scales.isAlive() && packed.scope().isAlive();
    }

    @Override
    public String toString() {
        return "Int8Weights[" + rows() + "x" + cols() + "]";
    }
}
