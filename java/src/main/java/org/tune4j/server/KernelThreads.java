package org.tune4j.server;

import org.tune4j.backend.CpuBackend;

/**
 * The CPU kernel threads a batch runs on, chosen per batch by whether the server is busy (ARCHITECTURE.md "Many
 * adapters"): {@code busy} when the batch is full or requests wait behind it, {@code idle} otherwise. Busy, the request
 * path (HTTP, JSON, on virtual threads) keeps the cores the kernels leave it: when it had to take one from the kernels,
 * a preempted kernel thread held up its whole batch, and the throughput gained came back as a tail. Below that, arrivals
 * are fewer than a batch holds and the batch may use every core, so a lone request, or the short backlog a stall
 * leaves, is answered sooner. 0 leaves the process's setting ({@link CpuBackend#setThreads}); a cap never raises it,
 * so the process runs {@link #most} threads.
 */
public record KernelThreads(int busy, int idle) {
    /** Every batch on the process's threads, as set elsewhere. */
    public static final KernelThreads PROCESS = new KernelThreads(0, 0);

    public KernelThreads {
        if (busy < 0 || busy > CpuBackend.MAX_THREADS) throw new IllegalArgumentException("busy kernel threads must be in [0, " + CpuBackend.MAX_THREADS + "], is " + busy);
        if (idle < 0 || idle > CpuBackend.MAX_THREADS) throw new IllegalArgumentException("idle kernel threads must be in [0, " + CpuBackend.MAX_THREADS + "], is " + idle);
    }

    /**
     * What a server of {@code workers} workers runs with unless told: every core but one when busy, every core below;
     * with more than one worker batches may run at once, so every core but one for each.
     */
    public static KernelThreads serving(int workers) {
        int cores = Math.min(Runtime.getRuntime().availableProcessors(), CpuBackend.MAX_THREADS), busy = Math.max(1, cores - 1);
        return new KernelThreads(busy, workers > 1 ? busy : cores);
    }

    /** The threads the process must run for both caps to hold: the larger (0 when neither is set). */
    public int most() {
        return Math.max(busy, idle);
    }

    /**
     * Caps the calling thread's kernels for its next batch ({@code full}: the batch is full or requests wait behind it)
     * and returns the threads they will run on, or 0 for {@link #PROCESS} (a GPU server's worker need not touch the CPU
     * library).
     */
    int capCaller(boolean full) {
        if (equals(PROCESS)) return 0;
        CpuBackend.setCallerThreads(full ? busy : idle);
        return CpuBackend.threads();
    }
}
