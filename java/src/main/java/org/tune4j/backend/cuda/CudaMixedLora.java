package org.tune4j.backend.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.tune4j.backend.BackendChecks;
import org.tune4j.backend.LoraAdapters;
import org.tune4j.backend.LoraChecks;
import org.tune4j.bindings.tune4j_cuda_h;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Memory;
import org.tune4j.tensor.Tensor;

/**
 * The mixed-adapter LoRA ops on the GPU (ARCHITECTURE.md "Many adapters"): the per-row kernels of ops.cu, the
 * segmented form run as per row (its segments expanded on the host). Each call stages the batch's small host
 * arrays (which adapter each row takes, the factors' device addresses, ranks, scales) on the device. A call
 * whose tensors or factors are not all in this backend's memory, or whose shapes do not fit, returns false: the
 * caller falls back (counted), where the CPU's checks name what is wrong.
 */
final class CudaMixedLora {
    private CudaMixedLora() {}

    /** Rows' adapters from segments: checked as the CPU checks them (host I32), then one entry a row. */
    static Tensor rowsOfSegments(Arena arena, Tensor segStart, Tensor segAdapter, long t, int adapters) {
        long nseg = LoraChecks.loraSegments(segStart, segAdapter, t, adapters);
        Tensor rows = Tensor.zeros(arena, DType.I32, Math.max(1, t));
        for (long s = 0; s < nseg; s++) for (long p = segStart.getInt(s); p < segStart.getInt(s + 1); p++) rows.setInt(p, segAdapter.getInt(s));
        return rows;
    }

    /** Whether a shrink fits the kernels: x [t, d_in] (any row stride), h [t, w >= max rank] contiguous, F32, every factor on this device. */
    static boolean fitsShrink(CudaBackend gpu, Tensor x, LoraAdapters adapters, Tensor h) {
        if (adapters == null || x == null || h == null || !gpu.hereStrided(x) || !gpu.here(h) || x.rank() != 2 || h.rank() != 2) return false;
        if (x.dtype() != DType.F32 || h.dtype() != DType.F32 || x.dim(1) != adapters.dIn() || h.dim(0) != x.dim(0) || h.dim(1) < adapters.maxRank()) return false;
        return factorsHere(gpu, adapters);
    }

    /** Whether an expand fits: h [t, w >= max rank] contiguous, y [t, d_out] (any row stride), F32, every factor on this device. */
    static boolean fitsExpand(CudaBackend gpu, Tensor h, LoraAdapters adapters, Tensor y) {
        if (adapters == null || h == null || y == null || !gpu.here(h) || !gpu.hereStrided(y) || h.rank() != 2 || y.rank() != 2) return false;
        if (h.dtype() != DType.F32 || y.dtype() != DType.F32 || h.dim(1) < adapters.maxRank() || y.dim(0) != h.dim(0) || y.dim(1) != adapters.dOut()) return false;
        return factorsHere(gpu, adapters);
    }

    private static boolean factorsHere(CudaBackend gpu, LoraAdapters adapters) {
        for (int i = 0; i < adapters.count(); i++) if (!gpu.here(adapters.a().get(i), adapters.b().get(i))) return false;
        return true;
    }

    /** A host I32 index tensor of n entries. */
    static boolean hostIndex(Tensor t, long n) {
        return t != null && t.isHost() && t.dtype() == DType.I32 && t.numel() == n && t.isContiguous() && t.isAlive();
    }

    /**
     * What the kernels read beside the tensors, staged on the device: the rows' adapters (host I32 [t], checked in
     * [-1, n)), the factors' addresses, ranks and scales. Freed with {@code arena}, after the kernels ran.
     */
    record Staged(Tensor rows, Tensor a, Tensor b, Tensor ranks, Tensor scales) {}

    private static Staged stage(CudaBackend gpu, Arena arena, Tensor rowAdapter, LoraAdapters adapters) {
        BackendChecks.valuesIn("rowAdapter", rowAdapter, -1, adapters.count());
        int n = adapters.count();
        MemorySegment a = arena.allocate(ValueLayout.JAVA_LONG, n), b = arena.allocate(ValueLayout.JAVA_LONG, n), r = arena.allocate(ValueLayout.JAVA_LONG, n);
        for (int i = 0; i < n; i++) {
            a.setAtIndex(ValueLayout.JAVA_LONG, i, adapters.a().get(i).pointer().address());
            b.setAtIndex(ValueLayout.JAVA_LONG, i, adapters.b().get(i).pointer().address());
            r.setAtIndex(ValueLayout.JAVA_LONG, i, adapters.rank(i));
        }
        Memory m = gpu.memory();
        return new Staged(rowAdapter.copy(arena, m), onDevice(arena, m, a, n), onDevice(arena, m, b, n), onDevice(arena, m, r, n),
                Tensor.of(arena, adapters.scales(), n).copy(arena, m));
    }

    /** n longs (as 2n I32 words, the bytes unchanged) copied into device memory. */
    private static Tensor onDevice(Arena arena, Memory m, MemorySegment longs, int n) {
        return Tensor.wrap(longs, DType.I32, 2L * n).copy(arena, m);
    }

    /** The per-row shrink, when it fits the kernels and the rows' adapters are a host index. */
    static boolean shrinkRows(CudaBackend gpu, Tensor x, Tensor rowAdapter, LoraAdapters adapters, Tensor h) {
        if (!fitsShrink(gpu, x, adapters, h) || !hostIndex(rowAdapter, x.dim(0))) return false;
        shrink(gpu, x, rowAdapter, adapters, h);
        return true;
    }

    static boolean expandRows(CudaBackend gpu, Tensor h, Tensor rowAdapter, LoraAdapters adapters, Tensor y) {
        if (!fitsExpand(gpu, h, adapters, y) || !hostIndex(rowAdapter, h.dim(0))) return false;
        expand(gpu, h, rowAdapter, adapters, y);
        return true;
    }

    /** The segmented shrink, run as per row (segments on the host). */
    static boolean shrinkSegments(CudaBackend gpu, Tensor x, Tensor segStart, Tensor segAdapter, LoraAdapters adapters, Tensor h) {
        if (!fitsShrink(gpu, x, adapters, h) || !hostSegments(segStart, segAdapter)) return false;
        try (Arena arena = Arena.ofConfined()) {
            shrink(gpu, x, rowsOfSegments(arena, segStart, segAdapter, x.dim(0), adapters.count()), adapters, h);
        }
        return true;
    }

    static boolean expandSegments(CudaBackend gpu, Tensor h, Tensor segStart, Tensor segAdapter, LoraAdapters adapters, Tensor y) {
        if (!fitsExpand(gpu, h, adapters, y) || !hostSegments(segStart, segAdapter)) return false;
        try (Arena arena = Arena.ofConfined()) {
            expand(gpu, h, rowsOfSegments(arena, segStart, segAdapter, h.dim(0), adapters.count()), adapters, y);
        }
        return true;
    }

    /** The base on cuBLAS (and the bias), then the adapters' terms on the mixed kernels, staged once for both. */
    static boolean mixedForward(CudaBackend gpu, Tensor x, Tensor w, Tensor bias, Tensor segStart, Tensor segAdapter, LoraAdapters adapters, Tensor h, Tensor y) {
        if (!fitsShrink(gpu, x, adapters, h) || !fitsExpand(gpu, h, adapters, y) || !gpu.here(w) || !gpu.hereOrNull(bias) || w == null || w.rank() != 2 || w.dim(0) != adapters.dOut()
                || w.dim(1) != adapters.dIn() || (bias != null && bias.numel() != adapters.dOut()) || !hostSegments(segStart, segAdapter)) return false;
        try (Arena arena = Arena.ofConfined()) {
            Staged staged = stage(gpu, arena, rowsOfSegments(arena, segStart, segAdapter, x.dim(0), adapters.count()), adapters);
            gpu.gemm(false, true, 1f, x, w, 0f, y);
            if (bias != null && !gpu.addRowInto(bias, y)) gpu.addRow(bias, y);
            launchShrink(gpu, staged, x, adapters, h);
            launchExpand(gpu, staged, h, adapters, y);
            gpu.synchronize(); // the staged arrays are freed when the arena closes
        }
        return true;
    }

    private static boolean hostSegments(Tensor segStart, Tensor segAdapter) {
        return segStart != null && segStart.isHost() && segAdapter != null && segAdapter.isHost();
    }

    /** shrink alone: stages, launches, waits (the staged arrays are freed on return). */
    private static void shrink(CudaBackend gpu, Tensor x, Tensor rowAdapter, LoraAdapters adapters, Tensor h) {
        try (Arena arena = Arena.ofConfined()) {
            launchShrink(gpu, stage(gpu, arena, rowAdapter, adapters), x, adapters, h);
            gpu.synchronize();
        }
    }

    /** expand alone, likewise. */
    private static void expand(CudaBackend gpu, Tensor h, Tensor rowAdapter, LoraAdapters adapters, Tensor y) {
        try (Arena arena = Arena.ofConfined()) {
            launchExpand(gpu, stage(gpu, arena, rowAdapter, adapters), h, adapters, y);
            gpu.synchronize();
        }
    }

    private static void launchShrink(CudaBackend gpu, Staged s, Tensor x, LoraAdapters adapters, Tensor h) {
        CudaBackend.check(tune4j_cuda_h.t4j_cuda_lora_shrink_rows(x.dim(0), s.rows().pointer(), adapters.dIn(), s.a().pointer(), s.ranks().pointer(), x.pointer(), x.ld(),
                h.pointer(), h.ld(), gpu.stream()), "lora_shrink_rows");
    }

    private static void launchExpand(CudaBackend gpu, Staged s, Tensor h, LoraAdapters adapters, Tensor y) {
        CudaBackend.check(tune4j_cuda_h.t4j_cuda_lora_expand_rows(h.dim(0), s.rows().pointer(), adapters.dOut(), s.b().pointer(), s.ranks().pointer(), s.scales().pointer(),
                h.pointer(), h.ld(), y.pointer(), y.ld(), gpu.stream()), "lora_expand_rows");
    }
}
