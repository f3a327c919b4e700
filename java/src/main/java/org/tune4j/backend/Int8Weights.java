package org.tune4j.backend;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Objects;
import org.tune4j.bindings.tune4j_h;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.HostMemory;
import org.tune4j.tensor.Tensor;

/**
 * An int8 weight matrix [n, k] (row j = output channel j) with one scale per output channel, in the two
 * forms the backends use: the plain values and scales ({@link ReferenceBackend}), and the packed layout
 * of the native kernels, prepared once here. Symmetric, values in [-127, 127] (ARCHITECTURE.md, "Numerics").
 * Weights pruned 2:4 along k can be packed as such ({@link #ofTwoFour}): the kernels then multiply only
 * the 2 kept weights of each group of 4.
 */
public final class Int8Weights {
    /** Largest k for which the int32 accumulation of the kernels is exact. */
    public static final long MAX_K = 65536;

    private final Tensor values;
    private final Tensor scales;
    private final MemorySegment packed;
    private final boolean twoFour;

    private Int8Weights(Tensor values, Tensor scales, MemorySegment packed, boolean twoFour) {
        this.values = values;
        this.scales = scales;
        this.packed = packed;
        this.twoFour = twoFour;
    }

    /**
     * Quantizes f32 weights [n, k] per output channel (scale = absmax/127, round half to even) with
     * {@code backend}, and packs them; everything lives in {@code arena}.
     */
    public static Int8Weights quantize(Arena arena, Backend backend, Tensor w) {
        return quantize(arena, backend, w, false);
    }

    /** As {@link #quantize}, for w pruned 2:4 along k (quantizing keeps its zeros), packed by {@link #ofTwoFour}. */
    public static Int8Weights quantizeTwoFour(Arena arena, Backend backend, Tensor w) {
        return quantize(arena, backend, w, true);
    }

    private static Int8Weights quantize(Arena arena, Backend backend, Tensor w, boolean twoFour) {
        BackendChecks.matrix("w", w);
        long n = w.dim(0), k = w.dim(1);
        Tensor q = Tensor.zeros(arena, DType.I8, n, k);
        Tensor s = Tensor.zeros(arena, DType.F32, n);
        backend.quantizeRows(w, q, s);
        return twoFour ? ofTwoFour(arena, q, s) : of(arena, q, s);
    }

    /** Packs already quantized weights q [n, k] (I8) and their scales [n] (F32). */
    public static Int8Weights of(Arena arena, Tensor q, Tensor scales) {
        check(arena, q, scales);
        long n = q.dim(0), k = q.dim(1);
        MemorySegment packed = HostMemory.allocate(arena, tune4j_h.t4j_int8_packed_size(n, k));
        tune4j_h.t4j_int8_pack(n, k, q.segment(), k, scales.segment(), packed);
        return new Int8Weights(q, scales, packed, false);
    }

    /**
     * Packs quantized weights q [n, k] pruned 2:4 along k (at most 2 nonzeros in each group of 4, k a
     * multiple of 4) and their scales [n] for the 2:4 int8 kernel.
     */
    public static Int8Weights ofTwoFour(Arena arena, Tensor q, Tensor scales) {
        check(arena, q, scales);
        long n = q.dim(0), k = q.dim(1);
        if (k % 4 != 0) throw new IllegalArgumentException("2:4 needs k to be a multiple of 4, is " + k);
        MemorySegment packed = HostMemory.allocate(arena, tune4j_h.t4j_int8_24_packed_size(n, k));
        if (tune4j_h.t4j_int8_24_pack(n, k, q.segment(), k, scales.segment(), packed) == tune4j_h.T4J_ERR_NOT_2TO4) {
            throw new IllegalArgumentException("q is not 2:4: a group of 4 weights along k has more than 2 nonzeros");
        }
        return new Int8Weights(q, scales, packed, true);
    }

    private static void check(Arena arena, Tensor q, Tensor scales) {
        Objects.requireNonNull(arena, "arena");
        if (q == null || q.dtype() != DType.I8 || q.rank() != 2 || !q.isContiguous()) {
            throw new IllegalArgumentException("q must be a contiguous I8 matrix, is " + q);
        }
        if (!q.isAlive()) throw new IllegalArgumentException("q: its memory was freed (the arena is closed)");
        if (q.dim(1) > MAX_K) throw new IllegalArgumentException("k = " + q.dim(1) + " exceeds " + MAX_K + ", where int32 accumulation stays exact");
        long at = indexOfMinus128(q.segment(), q.numel());
        if (at >= 0) {
            throw new IllegalArgumentException("q[" + at / q.dim(1) + ", " + at % q.dim(1) + "] is -128; int8 weights are symmetric, in [-127, 127]");
        }
        BackendChecks.vector("scales", scales, q.dim(0));
        for (long i = 0; i < scales.numel(); i++) { // a NaN scale would be NaN on some SIMD levels and a wrong finite number on others
            float s = scales.getFloat(i);
            if (!Float.isFinite(s)) throw new IllegalArgumentException("scale " + i + " is " + s + "; scales must be finite");
        }
    }

    /** The first of {@code n} bytes that is -128, or -1: eight bytes a step (a byte is 0x80 where x ^ 0x80 is zero). */
    private static long indexOfMinus128(MemorySegment bytes, long n) {
        long i = 0;
        for (; i + 8 <= n; i += 8) {
            long x = bytes.get(ValueLayout.JAVA_LONG_UNALIGNED, i) ^ 0x8080808080808080L;
            if (((x - 0x0101010101010101L) & ~x & 0x8080808080808080L) != 0) break;
        }
        for (; i < n; i++) if (bytes.get(ValueLayout.JAVA_BYTE, i) == Byte.MIN_VALUE) return i;
        return -1;
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

    /** Whether the packing is the 2:4 one ({@link #ofTwoFour}). */
    public boolean isTwoFour() {
        return twoFour;
    }

    /** The native kernels' layout (tune4j.h t4j_int8_pack or t4j_int8_24_pack). */
    public MemorySegment packed() {
        return packed;
    }

    boolean isAlive() {
        return values.isAlive() && scales.isAlive() && packed.scope().isAlive();
    }

    @Override
    public String toString() {
        return "Int8Weights[" + rows() + "x" + cols() + (twoFour ? ", 2:4" : "") + "]";
    }
}
