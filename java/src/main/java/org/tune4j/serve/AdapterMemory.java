package org.tune4j.serve;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Host memory for the adapters' files, kept when an adapter is freed and handed to the next load of the same size
 * (ARCHITECTURE.md "Many adapters"). Memory the process has not touched costs a page fault on its first write, one
 * per 4 KiB: 10-20 us each on the VMs we measure on, so 2-5 ms of a MiniLM rank-16 q,v adapter's load (593 KB) went to
 * faults, and the core they ran on was taken from the requests. A registry at its budget evicts an adapter for each
 * it loads, and a reload replaces one: the next load then writes into pages already mapped. Blocks are rounded to
 * pages and reused for a request of the same rounded size only (adapters of one shape and rank are the common case);
 * freed blocks beyond {@code keepBytes} go back to the system. A freed adapter's tensors are dead as before (their
 * segments are scoped to the load's own arena): reading one throws, it never sees the next adapter's values.
 * Thread-safe.
 */
final class AdapterMemory {
    private static final long PAGE = 4096;

    private record Block(Arena owner, MemorySegment segment) {}

    private final long keepBytes;
    private final Map<Long, ArrayDeque<Block>> free = new HashMap<>();
    private long kept;
    private long reused, fresh;
    private boolean closed;

    AdapterMemory(long keepBytes) {
        this.keepBytes = keepBytes;
    }

    /** An arena whose allocations come from this pool (zeroed, as any arena's); closing it gives them back. */
    Arena arena() {
        return new Lent();
    }

    /** Blocks handed out again, and blocks newly allocated, since the pool was made. */
    synchronized long[] counts() {
        return new long[] {reused, fresh};
    }

    /** Frees the kept blocks; blocks still lent are freed when their arena closes. */
    synchronized void close() {
        closed = true;
        for (ArrayDeque<Block> q : free.values()) for (Block b : q) b.owner.close();
        free.clear();
        kept = 0;
    }

    private synchronized Block take(long bytes) {
        long size = Math.max(PAGE, (bytes + PAGE - 1) / PAGE * PAGE);
        ArrayDeque<Block> q = free.get(size);
        if (!closed && q != null && !q.isEmpty()) {
            kept -= size;
            reused++;
            Block b = q.pop();
            b.segment.fill((byte) 0); // resident pages: a memset, no faults
            return b;
        }
        fresh++;
        Arena owner = Arena.ofShared();
        return new Block(owner, owner.allocate(size, PAGE));
    }

    private synchronized void give(Block b) {
        long size = b.segment.byteSize();
        if (closed || kept + size > keepBytes) {
            b.owner.close();
            return;
        }
        free.computeIfAbsent(size, k -> new ArrayDeque<>()).push(b);
        kept += size;
    }

    /** One load's allocations, each in the scope of an arena of its own, closed with it (the blocks outlive it in the pool). */
    private final class Lent implements Arena {
        private final Arena scope = Arena.ofShared();
        private final List<Block> blocks = new ArrayList<>();

        @Override
        public MemorySegment allocate(long byteSize, long byteAlignment) {
            if (byteSize < 0 || byteAlignment <= 0 || (byteAlignment & (byteAlignment - 1)) != 0 || byteAlignment > PAGE) {
                throw new IllegalArgumentException("allocate " + byteSize + " bytes aligned to " + byteAlignment + ": sizes >= 0, alignments a power of two up to " + PAGE);
            }
            Block b = take(byteSize);
            synchronized (blocks) {
                blocks.add(b);
            }
            // in this arena's scope: once it closes, a stale tensor of the freed adapter throws rather than reads the next one's
            return org.tune4j.bindings.NativeAccess.scoped(b.segment.asSlice(0, byteSize), scope);
        }

        @Override
        public MemorySegment.Scope scope() {
            return scope.scope();
        }

        @Override
        public void close() {
            scope.close(); // throws if closed twice, as an arena does
            synchronized (blocks) {
                for (Block b : blocks) give(b);
                blocks.clear();
            }
        }
    }
}
