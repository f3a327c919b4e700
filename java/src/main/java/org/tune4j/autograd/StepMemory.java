package org.tune4j.autograd;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Memory;
import org.tune4j.tensor.Tensor;

/**
 * Where one {@link Tape} step's tensors live: carved in order out of its {@link Workspace}'s memory (64-byte
 * aligned), or from the step's arena when there is no workspace or it is too small; and what the step would
 * need in a workspace large enough, which the workspace grows to for the next step. In no-grad mode a model
 * run stage by stage gives back each stage's memory but its output ({@link #keepOnly}; on the host only: a
 * device's step keeps all of it). The memory is the backend's.
 */
final class StepMemory {
    private final Arena arena;
    private final Memory where;
    private final MemorySegment slab; // the workspace's memory for this step, or null
    private long top;                 // the next free byte of the slab
    private long need, needPeak;      // the same in a slab large enough for the step, and its highest
    private long allocated;           // every byte made, for the step's accounting
    private final ArrayDeque<long[]> marks = new ArrayDeque<>(); // {top, need} at each open mark
    /**
     * {@link #keepOnly} moves its tensor down only when that frees at least this many bytes: below it the copy and the
     * bookkeeping cost more than the memory is worth (the ViT's block at batch 1 frees 40 KB by copying 9 KB).
     */
    static final long MIN_FREED = 256 << 10;

    StepMemory(Arena arena, Memory where, Tensor slab) {
        this.arena = arena;
        this.where = where;
        this.slab = slab == null ? null : slab.pointer();
    }

    boolean onWorkspace() {
        return slab != null;
    }

    /** F32 memory of {@code shape}, its values unspecified (zeroed when it comes from the arena). */
    Tensor take(long... shape) {
        long n = 1;
        for (long d : shape) n = Math.multiplyExact(n, d);
        MemorySegment carved = carve(n);
        // no workspace, or it is smaller than this step (the next step gets more)
        return carved == null ? where.zeros(arena, DType.F32, shape) : Tensor.wrap(where, carved, DType.F32, shape);
    }

    /** A [rows, cols] matrix, as {@link #take(long...)}: most of a step's tensors, made without a shape array to copy. */
    Tensor take(long rows, long cols) {
        MemorySegment carved = carve(Math.multiplyExact(rows, cols));
        if (carved == null) return where.zeros(arena, DType.F32, rows, cols);
        return where.isHost() ? Tensor.wrap(carved, DType.F32, rows, cols, Math.max(1, cols)) : Tensor.wrap(where, carved, DType.F32, rows, cols);
    }

    /** The next {@code count} floats of the slab, accounted; null when there is no slab or it has no room. */
    private MemorySegment carve(long count) {
        long bytes = Math.max(1, count) * 4;
        allocated += (bytes + 63) / 64 * 64;
        need = align(need) + bytes;
        needPeak = Math.max(needPeak, need);
        if (slab == null || align(top) + bytes > slab.byteSize()) return null;
        long start = align(top);
        top = start + bytes;
        return slab.asSlice(start, bytes);
    }

    long allocated() {
        return allocated;
    }

    long needPeak() {
        return needPeak;
    }

    /** Marks the top now (workspace only; -1 without one). */
    long mark() {
        if (slab == null) return -1;
        marks.push(new long[] {top, need});
        return marks.size();
    }

    /** Frees what was made since {@code mark} but {@code keep}, moved down to where that memory began; returns where keep is now. */
    Tensor keepOnly(long mark, Tensor keep) {
        if (mark < 0 || slab == null) return keep;
        if (mark != marks.size()) throw new IllegalStateException("marks are let go in the reverse order they were made (mark " + mark + " of " + marks.size() + ")");
        long[] at = marks.pop();
        if (!where.isHost()) return keep; // moving keep down would be an overlapping copy on the device: the step keeps it all
        MemorySegment seg = keep.segment();
        if (need - align(at[1]) - seg.byteSize() < MIN_FREED) return keep; // a small stage (a batch of one): not worth a copy
        need = align(at[1]) + seg.byteSize(); // in a slab large enough, keep would move down too
        long from = slab.address() + at[0], to = slab.address() + top;
        if (seg.address() < from || seg.address() + seg.byteSize() > to || !keep.isContiguous()) {
            if (seg.address() >= to || seg.address() + seg.byteSize() <= from) top = at[0]; // keep is elsewhere (the arena): all of it is free
            return keep;
        }
        MemorySegment dst = slab.asSlice(align(at[0]), seg.byteSize());
        MemorySegment.copy(seg, 0, dst, 0, seg.byteSize()); // overlapping ranges copy as through a temporary
        top = align(at[0]) + seg.byteSize();
        return Tensor.wrap(dst, keep.dtype(), keep.shape());
    }

    private static long align(long offset) {
        return (offset + 63) / 64 * 64;
    }
}
