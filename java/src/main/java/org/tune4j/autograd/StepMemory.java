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
 * device's step keeps all of it), in the workspace and, where a step outgrew it (the first step of a workspace),
 * in the stage's own arena: so the first batch holds one layer's activations too, not all of them. The memory
 * is the backend's.
 */
final class StepMemory implements AutoCloseable {
    private final Arena arena;
    private final Memory where;
    private final MemorySegment slab; // the workspace's memory for this step, or null
    private long top;                 // the next free byte of the slab
    private long need, needPeak;      // the same in a slab large enough for the step, and its highest
    private long allocated;           // every byte made, for the step's accounting
    private final ArrayDeque<long[]> marks = new ArrayDeque<>(); // {top, need} at each open mark
    private final ArrayDeque<Stage> stages = new ArrayDeque<>();  // the host memory each open mark's stage took beyond the slab
    private final Stage outermost = new Stage();                  // stages whose output could not move out, freed with the step
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
        return carved == null ? where.zeros(overflow(), DType.F32, shape) : Tensor.wrap(where, carved, DType.F32, shape);
    }

    /** A [rows, cols] matrix, as {@link #take(long...)}: most of a step's tensors, made without a shape array to copy. */
    Tensor take(long rows, long cols) {
        MemorySegment carved = carve(Math.multiplyExact(rows, cols));
        if (carved == null) return where.zeros(overflow(), DType.F32, rows, cols);
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

    /** Where a tensor the slab has no room for goes: the open stage's arena on the host, else the step's. */
    private Arena overflow() {
        return stages.isEmpty() || !where.isHost() ? arena : stages.peek().arena();
    }

    /** Marks the top now (workspace only; -1 without one). */
    long mark() {
        if (slab == null) return -1;
        marks.push(new long[] {top, need});
        stages.push(new Stage());
        return marks.size();
    }

    /** Frees what was made since {@code mark} but {@code keep}, moved down to where that memory began; returns where keep is now. */
    Tensor keepOnly(long mark, Tensor keep) {
        if (mark < 0 || slab == null) return keep;
        if (mark != marks.size()) throw new IllegalStateException("marks are let go in the reverse order they were made (mark " + mark + " of " + marks.size() + ")");
        long[] at = marks.pop();
        Stage stage = stages.pop();
        if (!where.isHost()) return keep; // moving keep down would be an overlapping copy on the device: the step keeps it all
        MemorySegment seg = keep.segment();
        boolean inStage = stage.holds(seg);
        if (need - align(at[1]) - seg.byteSize() < MIN_FREED) return freeStage(stage, inStage, keep); // a small stage (a batch of one): not worth a copy
        need = align(at[1]) + seg.byteSize(); // in a slab large enough, keep would move down too
        long from = slab.address() + at[0], to = slab.address() + top;
        boolean inSlab = seg.address() >= from && seg.address() + seg.byteSize() <= to;
        if (!inSlab && !inStage) { // keep is elsewhere (the step's arena): all of the stage's memory is free
            top = at[0];
            return freeStage(stage, false, keep);
        }
        if (!keep.isContiguous()) return freeStage(stage, inStage, keep);
        long start = align(at[0]), bytes = seg.byteSize();
        MemorySegment dst;
        if (start + bytes <= slab.byteSize()) {
            dst = slab.asSlice(start, bytes);
            top = start + bytes;
        } else { // the slab is smaller than this step: keep leaves the stage's arena for the one above
            dst = (stages.isEmpty() ? arena : stages.peek().arena()).allocate(bytes, 64);
            top = at[0];
        }
        MemorySegment.copy(seg, 0, dst, 0, bytes); // overlapping ranges copy as through a temporary
        stage.close();
        return Tensor.wrap(dst, keep.dtype(), keep.shape());
    }

    /** Frees the stage's arena, or, when {@code keep} lives in it and stays, hands it to the stage above to free. */
    private Tensor freeStage(Stage stage, boolean keepInIt, Tensor keep) {
        if (keepInIt) (stages.isEmpty() ? outermost : stages.peek()).adopted.add(stage);
        else stage.close();
        return keep;
    }

    /** Frees every stage's own memory (marks left open by a step that failed included); the step's arena is the tape's to close. */
    @Override
    public void close() {
        while (!stages.isEmpty()) stages.pop().close();
        outermost.close();
    }

    /** The host memory a stage took beyond the slab: its arena, made on first use, and stages inside it whose output lives in theirs. */
    private static final class Stage {
        private Arena arena;
        private final java.util.List<Stage> adopted = new java.util.ArrayList<>();

        Arena arena() {
            if (arena == null) arena = Arena.ofConfined();
            return arena;
        }

        boolean holds(MemorySegment s) {
            return arena != null && s.scope().equals(arena.scope());
        }

        void close() {
            for (Stage s : adopted) s.close();
            adopted.clear();
            if (arena != null) arena.close();
            arena = null;
        }
    }

    private static long align(long offset) {
        return (offset + 63) / 64 * 64;
    }
}
