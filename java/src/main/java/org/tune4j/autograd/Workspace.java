package org.tune4j.autograd;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Memory for the tensors of one step at a time, grown to the largest step seen: a step that needs
 * more than it holds takes the rest from its own arena, and the next step finds it large enough.
 */
public final class Workspace implements AutoCloseable {
    private Arena owner = Arena.ofShared();
    private MemorySegment memory = MemorySegment.NULL;
    private long needed;
    private boolean inUse;

    /** The memory for one step, scoped to {@code step}'s arena. */
    MemorySegment take(Arena step) {
        if (inUse) throw new IllegalStateException("this workspace is in use by another tape (one step at a time)");
        inUse = true;
        if (memory.byteSize() < needed) { // grow to the last step's size: nothing refers to the old memory now
            owner.close();
            owner = Arena.ofShared();
            memory = owner.allocate(needed, 64);
        }
        return org.tune4j.bindings.NativeAccess.scoped(memory, step);
    }

    void release(long bytes) {
        needed = Math.max(needed, bytes);
        inUse = false;
    }

    /** Bytes held for the steps. */
    public long capacity() {
        return memory.byteSize();
    }

    @Override
    public void close() {
        owner.close();
        memory = MemorySegment.NULL;
    }
}
