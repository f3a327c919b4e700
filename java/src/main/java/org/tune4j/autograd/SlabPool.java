package org.tune4j.autograd;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Memory;
import org.tune4j.tensor.Tensor;

/**
 * The memory of closed {@link Workspace}s, kept for the next ones (ARCHITECTURE.md "Step memory"). New memory is
 * zeroed and page-faulted in on first touch: on a VM that costs more than the forward pass of a small batch, and
 * a caller that makes a workspace per call (an evaluation, an attack, a command) would pay it every time. Bounded
 * in bytes ({@code tune4j.workspace.pool.bytes}, 1 GiB by default; 0 keeps nothing): the smallest slabs go first,
 * a slab larger than the bound is freed at once. {@link #clear} frees it all.
 */
final class SlabPool {
    /** A workspace's memory and the arena that owns it. */
    record Slab(Arena owner, Tensor memory) {
        static Slab allocate(Memory where, long bytes) {
            Arena owner = Arena.ofShared();
            return new Slab(owner, where.zeros(owner, DType.I8, bytes));
        }

        long bytes() {
            return memory.numel();
        }

        void free() {
            owner.close();
        }
    }

    static final SlabPool SHARED = new SlabPool(Long.getLong("tune4j.workspace.pool.bytes", 1L << 30));

    private final long capacity;
    private final List<Slab> slabs = new ArrayList<>();
    private long held;

    SlabPool(long capacity) {
        if (capacity < 0) throw new IllegalArgumentException("a pool's capacity must be >= 0 bytes, is " + capacity);
        this.capacity = capacity;
    }

    /** The smallest kept slab in {@code where} of at least {@code bytes} (bytes 0: the largest), taken out of the pool; null when none fits. */
    synchronized Slab take(Memory where, long bytes) {
        Slab best = null;
        for (Slab s : slabs) {
            if (s.memory().memory() != where || s.bytes() < bytes) continue;
            if (best == null || (bytes == 0 ? s.bytes() > best.bytes() : s.bytes() < best.bytes())) best = s;
        }
        if (best != null) {
            slabs.remove(best);
            held -= best.bytes();
        }
        return best;
    }

    /** Keeps {@code slab} for a later workspace, freeing the smallest kept ones beyond the bound. Nothing may use it now. */
    synchronized void give(Slab slab) {
        if (slab.bytes() == 0 || slab.bytes() > capacity) {
            slab.free();
            return;
        }
        slabs.add(slab);
        held += slab.bytes();
        while (held > capacity) {
            Slab smallest = slabs.get(0);
            for (Slab s : slabs) if (s.bytes() < smallest.bytes()) smallest = s;
            slabs.remove(smallest);
            held -= smallest.bytes();
            smallest.free();
        }
    }

    long capacity() {
        return capacity;
    }

    /** Bytes kept. */
    synchronized long held() {
        return held;
    }

    /** Frees every kept slab. */
    synchronized void clear() {
        for (Slab s : slabs) s.free();
        slabs.clear();
        held = 0;
    }
}
