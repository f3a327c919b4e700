package org.tune4j.backend.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;
import org.tune4j.bindings.tune4j_cuda_h;

/**
 * A caching device allocator: freed blocks wait in per-size lists (sizes rounded up to 512 bytes, or
 * to 2 MiB above 1 MiB) and are reused, so that a training step calls cudaMalloc only on its first
 * pass. Out of memory, it empties the cache and tries once more before failing with a message that
 * gives the request, the device's free and total memory, and what it holds.
 */
public final class DeviceAllocator implements AutoCloseable {
    private final Map<Long, ArrayDeque<Long>> free = new HashMap<>();
    private long cachedBytes;
    private long liveBytes;
    private java.util.List<long[]> recording; // while a CUDA graph records: the blocks released, kept for the graph

    /**
     * From now until {@link #endRecording}, a released block is kept for the graph being recorded instead of cached: the
     * graph writes its scratch there on every replay, so it must never be handed to a tensor made afterwards.
     */
    synchronized void beginRecording() {
        if (recording != null) throw new IllegalStateException("a CUDA graph is already recording on this allocator");
        recording = new java.util.ArrayList<>();
    }

    /** The blocks kept since {@link #beginRecording} ({address, bytes} each): {@link #releaseKept} once the graph is freed. */
    synchronized java.util.List<long[]> endRecording() {
        java.util.List<long[]> kept = recording;
        recording = null;
        return kept == null ? java.util.List.of() : kept;
    }

    /** Blocks a freed graph kept, back to the cache. */
    synchronized void releaseKept(java.util.List<long[]> kept) {
        for (long[] b : kept) {
            free.computeIfAbsent(rounded(b[1]), k -> new ArrayDeque<>()).push(b[0]);
            cachedBytes += rounded(b[1]);
        }
    }

    static long rounded(long bytes) {
        long unit = bytes > (1L << 20) ? (2L << 20) : 512;
        return Math.max(unit, (bytes + unit - 1) / unit * unit);
    }

    synchronized long allocate(long bytes) {
        long size = rounded(bytes);
        ArrayDeque<Long> list = free.get(size);
        if (list != null && !list.isEmpty()) {
            cachedBytes -= size;
            liveBytes += size;
            return list.pop();
        }
        long address = malloc(size);
        if (address == 0) {
            emptyCache();
            address = malloc(size);
        }
        if (address == 0) {
            long[] info = memInfo();
            throw new IllegalStateException(String.format("CUDA out of memory: %d bytes requested; the GPU has %d MiB free of %d MiB; "
                    + "tune4j holds %d MiB in use", bytes, info[0] >> 20, info[1] >> 20, liveBytes >> 20));
        }
        liveBytes += size;
        return address;
    }

    synchronized void release(long address, long bytes) {
        long size = rounded(bytes);
        liveBytes -= size;
        if (recording != null) {
            recording.add(new long[] {address, bytes});
            return;
        }
        free.computeIfAbsent(size, k -> new ArrayDeque<>()).push(address);
        cachedBytes += size;
    }

    /** Returns every cached block to the driver. */
    public synchronized void emptyCache() {
        for (ArrayDeque<Long> list : free.values())
            for (long a : list) tune4j_cuda_h.t4j_cuda_free(MemorySegment.ofAddress(a));
        free.clear();
        cachedBytes = 0;
    }

    public synchronized long cachedBytes() {
        return cachedBytes;
    }

    public synchronized long liveBytes() {
        return liveBytes;
    }

    private static long malloc(long size) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ValueLayout.JAVA_LONG);
            int rc = tune4j_cuda_h.t4j_cuda_malloc(size, out);
            return rc == 0 ? out.get(ValueLayout.JAVA_LONG, 0) : 0;
        }
    }

    private static long[] memInfo() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment f = arena.allocate(ValueLayout.JAVA_LONG), t = arena.allocate(ValueLayout.JAVA_LONG);
            tune4j_cuda_h.t4j_cuda_mem_info(f, t);
            return new long[] {f.get(ValueLayout.JAVA_LONG, 0), t.get(ValueLayout.JAVA_LONG, 0)};
        }
    }

    @Override
    public void close() {
        emptyCache();
    }
}
