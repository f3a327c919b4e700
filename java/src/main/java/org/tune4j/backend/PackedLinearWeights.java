package org.tune4j.backend;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Objects;
import org.tune4j.bindings.tune4j_h;
import org.tune4j.tensor.HostMemory;
import org.tune4j.tensor.Memory;
import org.tune4j.tensor.Tensor;

/**
 * The f32 weights [n, k] of a frozen linear layer with the CPU GEMM's B panels laid out once, ahead, as it would pack
 * them at every call (ARCHITECTURE.md, "GEMM": packed weights); ONNX Runtime and oneDNN do the same for an inference
 * model's constant weights. {@link Backend#linearPacked} then gives the bits of {@link Backend#linear} on the weights
 * (more than 16 rows and outputs; fewer may differ in the last bits) without the pass over them that packing costs;
 * on a CPU with AMX-BF16 they are packed for its tiles too ({@link #amx}, {@link CpuBackend#linearAmx}), on which
 * products of more than 32 rows run, f32-grade sums 1.2-1.6x faster, in other bits ({@link #onAmx}). The weight
 * tensor stays the values (the reference backend's operand, and input gradients): it must not be written after
 * packing, since the packed copy would not follow.
 */
public final class PackedLinearWeights {
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(PackedLinearWeights.class);
    private final Tensor weight;
    private final MemorySegment packed;
    private final java.util.concurrent.atomic.AtomicLong fallbacks = new java.util.concurrent.atomic.AtomicLong();
    private final PackedLinearWeights transposed;

    private PackedLinearWeights(Tensor weight, MemorySegment packed, PackedLinearWeights transposed) {
        this.weight = weight;
        this.packed = packed;
        this.transposed = transposed;
    }

    /** Packs w [n, k] (F32, host memory; kept, not copied) into {@code arena} for the current SIMD level and GEMM blocks. */
    public static PackedLinearWeights pack(Arena arena, Tensor w) {
        return new PackedLinearWeights(w, packed(arena, w, false), null);
    }

    /** w packed: for any rows, or (manyRows) for products of more than 32 rows only (tune4j.h {@code t4j_linear_pack_many_rows}). */
    private static MemorySegment packed(Arena arena, Tensor w, boolean manyRows) {
        Objects.requireNonNull(arena, "arena");
        BackendChecks.matrix("w", w);
        if (w.memory() != Memory.HOST) throw new IllegalArgumentException("packed linear weights are host memory, w is in " + w.memory());
        CpuBackend.get(); // the kernels' tuned blocks applied first: packed for others, every call would fall back
        long n = w.dim(0), k = w.dim(1), bytes = manyRows ? tune4j_h.t4j_linear_packed_size_many_rows(n, k) : tune4j_h.t4j_linear_packed_size(n, k);
        MemorySegment packed = HostMemory.allocate(arena, bytes);
        int rc = manyRows ? tune4j_h.t4j_linear_pack_many_rows(n, k, w.segment(), w.ld(), packed, bytes) : tune4j_h.t4j_linear_pack(n, k, w.segment(), w.ld(), packed, bytes);
        if (rc != tune4j_h.T4J_OK) throw new IllegalStateException("t4j_linear_pack returned status " + rc + " for a " + n + " x " + k + " weight");
        return packed;
    }

    /**
     * w packed, and wᵀ [k, n] (copied into {@code arena}) packed too, for a training step's products: the forward
     * x wᵀ, and the input gradient dx = gy w = gy (wᵀ)ᵀ on a frozen weight ({@link #transposed}; the tape's
     * {@code linear} takes it). Both for products of more than 32 rows (tune4j.h {@code t4j_linear_pack_many_rows}:
     * where AMX is on, its tiles alone; fewer rows, or AMX turned off, run the plain linear, counted in
     * {@link #fallbacks}). 16 bytes a weight more there (wᵀ's values, the two packings' 6), 12 elsewhere.
     */
    public static PackedLinearWeights packWithTransposed(Arena arena, Tensor w) {
        MemorySegment forward = packed(arena, w, true); // checks w first
        long n = w.dim(0), k = w.dim(1);
        Tensor wt = Tensor.zeros(arena, org.tune4j.tensor.DType.F32, k, n);
        for (long i = 0; i < n; i++)
            for (long j = 0; j < k; j++) wt.setFloat(j, i, w.getFloat(i, j));
        return new PackedLinearWeights(w, forward, new PackedLinearWeights(wt, packed(arena, wt, true), null));
    }

    /** wᵀ packed ({@link #packWithTransposed}), or null. */
    public PackedLinearWeights transposed() {
        return transposed;
    }

    /** The weight values [n, k] as packed. */
    public Tensor weight() {
        return weight;
    }

    /** Output features n. */
    public long rows() {
        return weight.dim(0);
    }

    /** Input features k. */
    public long columns() {
        return weight.dim(1);
    }

    /** The native packed form. */
    MemorySegment packed() {
        return packed;
    }

    /** Calls that ran the plain linear because the SIMD level or the K block changed since packing. */
    public long fallbacks() {
        return fallbacks.get();
    }

    /**
     * Counts a call that ran the plain product; the first is logged: WARN where the packing no longer fits the kernels
     * (packed at another SIMD level or K block: every later call loses the same speed until they are packed again),
     * DEBUG for AMX-tile weights, which take the plain product by design for a call of too few rows or with the tiles off.
     */
    void countFallback() {
        if (fallbacks.incrementAndGet() != 1) return;
        if (amx()) {
            LOG.debug("weights of {} x {} packed for AMX tiles ran the plain product (a call of {} rows or fewer, or the tiles off): the same bits",
                    rows(), columns(), tune4j_h.T4J_LINEAR_AMX_MIN_ROWS);
        } else {
            LOG.warn("weights of {} x {} packed for another SIMD level or K block than now ({}) ran the plain product: the same bits, slower; "
                    + "pack them again for the packed speed (fallbacks() counts such calls)", rows(), columns(), CpuBackend.simdLevel().label());
        }
    }

    /**
     * Whether these weights were packed with AMX tiles too ({@link CpuBackend#linearAmx}): then {@link Backend#linearPacked}
     * runs products of more than {@code T4J_LINEAR_AMX_MIN_ROWS} (32) rows on them while AMX stays on ({@link #onAmx}),
     * f32-grade sums in other bits than {@link Backend#linear}'s. Weights with a NaN or an infinity never are.
     */
    public boolean amx() {
        return tune4j_h.t4j_linear_packed_amx(packed) != 0;
    }

    /** Whether a product of {@code rows} rows on these weights runs on AMX tiles now (else the FMA kernels' bits). */
    public boolean onAmx(long rows) {
        return amx() && CpuBackend.linearAmx() && rows > tune4j_h.T4J_LINEAR_AMX_MIN_ROWS;
    }

    /** Bytes of the packed copy. */
    public long packedBytes() {
        return packed.byteSize();
    }
}
