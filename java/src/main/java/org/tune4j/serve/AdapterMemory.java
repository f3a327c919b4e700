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
 * per 4 KiB: 2-20 us each on the VMs we measure on, so 0.3-5 ms of a MiniLM rank-16 q,v adapter's load (593 KB) went
 * to faults, and the core they ran on was taken from the requests. A registry at its budget evicts an adapter for each
 * it loads, and a reload replaces one: the next load then writes into pages already mapped. Blocks are rounded to
 * pages and reused for a request of the same rounded size only (adapters of one shape and rank are the common case);
 * freed blocks beyond {@code keepBytes} go back to the system. A freed adapter's tensors are dead as before (their
 * segments are scoped to the load's own arena): reading one throws, it never sees the next adapter's values.
 * A registry below its budget frees nothing, so each new adapter would fault; a reserve, allocated and touched when
 * the pool is made (as S-LoRA's unified pool is at a server's start), hands out blocks with its pages mapped until it
 * is spent; its blocks, freed, stay in the pool whatever {@code keepBytes} says, and it goes back to the system
 * once the pool is closed and the last of them is given back. Thread-safe.
 */
final class AdapterMemory {
    private static final long PAGE = 4096;

    /** A block: its own arena's, or (owner null) a slice of the reserve. */
    private record Block(Arena owner, MemorySegment segment) {}

    private final long keepBytes;
    private final Map<Long, ArrayDeque<Block>> free = new HashMap<>();
    private final Arena reserveOwner; // null without a reserve
    private final MemorySegment reserve;
    private long reserveUsed; // bytes of the reserve carved into blocks so far
    private int reserveLent;  // blocks of the reserve not given back
    private long kept;
    private long reused, reserved, fresh;
    private boolean closed;

    /** Keeps up to {@code keepBytes} of freed blocks; {@code reserveBytes} (0: none) allocated and touched now. */
    AdapterMemory(long keepBytes, long reserveBytes) {
        if (reserveBytes < 0) throw new IllegalArgumentException("the adapter memory reserve must be >= 0 bytes, is " + reserveBytes);
        this.keepBytes = keepBytes;
        long size = (reserveBytes + PAGE - 1) / PAGE * PAGE;
        reserveOwner = size == 0 ? null : Arena.ofShared();
        reserve = size == 0 ? MemorySegment.NULL : reserveOwner.allocate(size, PAGE); // zeroed: every page written, so mapped
    }

    /** An arena whose allocations come from this pool (zeroed, as any arena's); closing it gives them back. */
    Arena arena() {
        return new Lent();
    }

    /** Blocks handed out again, blocks carved from the reserve, and blocks newly allocated (page faults), since the pool was made. */
    synchronized long[] counts() {
        return new long[] {reused, reserved, fresh};
    }

    /** The reserve's bytes not yet carved into blocks. */
    synchronized long reserveLeft() {
        return reserve.byteSize() - reserveUsed;
    }

    /** Frees the kept blocks; blocks still lent are freed when their arena closes (the reserve with the last of its own). */
    synchronized void close() {
        closed = true;
        for (ArrayDeque<Block> q : free.values()) for (Block b : q) if (b.owner != null) b.owner.close();
        free.clear();
        kept = 0;
        freeReserveOnceClosed();
    }

    /** Frees the reserve once the pool is closed and none of its blocks is lent. */
    private void freeReserveOnceClosed() {
        if (closed && reserveOwner != null && reserveLent == 0 && reserveOwner.scope().isAlive()) reserveOwner.close();
    }

    private synchronized Block take(long bytes) {
        long size = Math.max(PAGE, (bytes + PAGE - 1) / PAGE * PAGE);
        ArrayDeque<Block> q = free.get(size);
        if (!closed && q != null && !q.isEmpty()) {
            Block b = q.pop();
            if (b.owner != null) kept -= size;
            else reserveLent++;
            reused++;
            b.segment.fill((byte) 0); // resident pages: a memset, no faults
            return b;
        }
        if (!closed && reserveLeft() >= size) { // zero and mapped since the pool was made
            Block b = new Block(null, reserve.asSlice(reserveUsed, size));
            reserveUsed += size;
            reserveLent++;
            reserved++;
            return b;
        }
        fresh++;
        Arena owner = Arena.ofShared();
        return new Block(owner, owner.allocate(size, PAGE));
    }

    private synchronized void give(Block b) {
        long size = b.segment.byteSize();
        if (b.owner == null) { // the reserve's: kept whatever keepBytes says, the reserve freed with the last one after close
            reserveLent--;
            if (!closed) free.computeIfAbsent(size, k -> new ArrayDeque<>()).push(b);
            freeReserveOnceClosed();
            return;
        }
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
