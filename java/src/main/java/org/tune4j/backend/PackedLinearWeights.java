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
 * on a CPU with AMX-BF16 they are packed for its tiles instead ({@link #amx}, {@link CpuBackend#linearAmx}), f32-grade
 * sums 1.4-1.8x faster, in other bits. The weight
 * tensor stays the values (the reference backend's operand, and input gradients): it must not be written after
 * packing, since the packed copy would not follow.
 */
public final class PackedLinearWeights {
    private final Tensor weight;
    private final MemorySegment packed;
    private final java.util.concurrent.atomic.AtomicLong fallbacks = new java.util.concurrent.atomic.AtomicLong();

    private PackedLinearWeights(Tensor weight, MemorySegment packed) {
        this.weight = weight;
        this.packed = packed;
    }

    /** Packs w [n, k] (F32, host memory; kept, not copied) into {@code arena} for the current SIMD level and GEMM blocks. */
    public static PackedLinearWeights pack(Arena arena, Tensor w) {
        Objects.requireNonNull(arena, "arena");
        BackendChecks.matrix("w", w);
        if (w.memory() != Memory.HOST) throw new IllegalArgumentException("packed linear weights are host memory, w is in " + w.memory());
        CpuBackend.get(); // the kernels' tuned blocks applied first: packed for others, every call would fall back
        long n = w.dim(0), k = w.dim(1), bytes = tune4j_h.t4j_linear_packed_size(n, k);
        MemorySegment packed = HostMemory.allocate(arena, bytes);
        int rc = tune4j_h.t4j_linear_pack(n, k, w.segment(), w.ld(), packed, bytes);
        if (rc != tune4j_h.T4J_OK) throw new IllegalStateException("t4j_linear_pack returned status " + rc + " for a " + n + " x " + k + " weight");
        return new PackedLinearWeights(w, packed);
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

    void countFallback() {
        fallbacks.incrementAndGet();
    }

    /**
     * Whether these weights were packed for AMX tiles ({@link CpuBackend#linearAmx}): then {@link Backend#linearPacked}
     * gives f32-grade sums in other bits than {@link Backend#linear}'s. Weights with a NaN or an infinity never are.
     */
    public boolean amx() {
        return tune4j_h.t4j_linear_packed_amx(packed) != 0;
    }

    /** Bytes of the packed copy. */
    public long packedBytes() {
        return packed.byteSize();
    }
}
