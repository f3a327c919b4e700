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
        free.computeIfAbsent(size, k -> new ArrayDeque<>()).push(address);
        liveBytes -= size;
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
