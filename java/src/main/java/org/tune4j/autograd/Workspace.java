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
 */
public final class Workspace implements AutoCloseable {
    private Arena owner = Arena.ofShared();
    private Tensor memory; // I8 bytes; null before the first step
    private long needed;
    private boolean inUse;

    /** The memory for one step, in {@code where}, scoped to {@code step}'s arena (empty until a step has said what it needs). */
    Tensor take(Arena step, Memory where) {
        if (inUse) throw new IllegalStateException("this workspace is in use by another tape (one step at a time)");
        inUse = true;
        if (memory == null || memory.numel() < needed || memory.memory() != where) { // grow: nothing refers to the old memory now
            owner.close();
            owner = Arena.ofShared();
            memory = where.zeros(owner, DType.I8, needed);
        }
        MemorySegment scoped = org.tune4j.bindings.NativeAccess.scoped(memory.pointer(), step);
        return Tensor.wrap(where, scoped, DType.I8, memory.numel());
    }

    void release(long bytes) {
        needed = Math.max(needed, bytes);
        inUse = false;
    }

    /** Bytes held for the steps. */
    public long capacity() {
        return memory == null ? 0 : memory.numel();
    }

    @Override
    public void close() {
        owner.close();
        memory = null;
    }
}
