package org.tune4j.autograd;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Memory;
import org.tune4j.tensor.Tensor;

/**
 * Memory for the tensors of one step at a time, grown to the largest step seen: a step that needs
 * more than it holds takes the rest from its own arena, and the next step finds it large enough. The memory is
 * the backend's (host or device): a step finds the same addresses every time, as a CUDA graph replay needs.
 * A closed workspace's memory goes to a bounded pool that the next workspace takes from ({@link SlabPool}), so a
 * workspace made per call does not page in new memory every time.
 */
public final class Workspace implements AutoCloseable {
    private SlabPool.Slab slab; // null before the first step and after close
    private long needed;
    private boolean inUse, closed;

    /** The memory for one step, in {@code where}, scoped to {@code step}'s arena (empty until a step has said what it needs, unless the pool had some). */
    synchronized Tensor take(Arena step, Memory where) {
        if (closed) throw new IllegalStateException("this workspace is closed");
        if (inUse) throw new IllegalStateException("this workspace is in use by another tape (one step at a time)");
        inUse = true;
        if (slab == null || slab.bytes() < needed || slab.memory().memory() != where) { // grow: nothing refers to the old memory now
            SlabPool.Slab old = slab;
            slab = SlabPool.SHARED.take(where, needed);
            if (old != null) SlabPool.SHARED.give(old);
            if (slab == null) slab = SlabPool.Slab.allocate(where, needed);
        }
        MemorySegment scoped = org.tune4j.bindings.NativeAccess.scoped(slab.memory().pointer(), step);
        return Tensor.wrap(where, scoped, DType.I8, slab.bytes());
    }

    synchronized void release(long bytes) {
        needed = Math.max(needed, bytes);
        inUse = false;
        if (closed) giveBack(); // closed while the step ran: its memory is let go now that nothing uses it
    }

    /** Bytes the largest step so far needed (the memory held can be more: a slab from the pool). */
    public synchronized long needed() {
        return needed;
    }

    /** Bytes held for the steps. */
    public synchronized long capacity() {
        return slab == null ? 0 : slab.bytes();
    }

    /** Bytes that closed workspaces left for later ones (see {@link #freePooled}). */
    public static long pooledBytes() {
        return SlabPool.SHARED.held();
    }

    /** Frees the memory closed workspaces left for later ones. */
    public static void freePooled() {
        SlabPool.SHARED.clear();
    }

    /**
     * Gives the memory to the pool for the next workspace, at once or, while a tape still runs on it, when that step
     * ends. A workspace closed after one step never grew (its step ran on its arena): the pool gets memory of the
     * size that step needed, so that a caller making a workspace per single-step call pays for new memory once, not
     * every call.
     */
    @Override
    public synchronized void close() {
        closed = true;
        if (!inUse) giveBack();
    }

    private void giveBack() {
        if (slab == null) return;
        Memory where = slab.memory().memory();
        if (slab.bytes() < needed && needed <= SlabPool.SHARED.capacity()) {
            slab.free();
            slab = SlabPool.Slab.allocate(where, needed);
        }
        SlabPool.SHARED.give(slab);
        slab = null;
    }
}
