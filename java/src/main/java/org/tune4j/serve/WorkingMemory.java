package org.tune4j.serve;

import java.lang.foreign.Arena;
import java.util.function.BiConsumer;
import org.tune4j.autograd.Tape;
import org.tune4j.autograd.Workspace;
import org.tune4j.backend.Backend;
import org.tune4j.data.TokenBatch;

/**
 * How much memory a predictor's calls may take, checked when it opens: what its largest batches would need at once must
 * fit in half of this machine's memory. Beyond that a call does not fail cleanly: the kernel lets the allocations
 * through and kills the process when it touches them (an encoder opened for batches of 4,096 texts of 512 tokens was
 * killed by the OOM killer, exit 137, on a 24 GB machine).
 */
final class WorkingMemory {
    private WorkingMemory() {}

    /** This machine's physical memory in bytes (the heap's limit where the JVM cannot say). */
    static long physicalBytes() {
        if (java.lang.management.ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os) return os.getTotalMemorySize();
        return Runtime.getRuntime().maxMemory();
    }

    /** Refuses {@code need} bytes beyond half of this machine's memory: {@code what} names what would need them, {@code advice} what to ask instead. */
    static void refuseBeyondHalf(long need, String what, String advice) {
        refuseBeyondHalf(need, physicalBytes(), what, advice);
    }

    /** As {@link #refuseBeyondHalf(long, String, String)} on a machine of {@code memory} bytes. */
    static void refuseBeyondHalf(long need, long memory, String what, String advice) {
        if (need > memory / 2) {
            throw new IllegalArgumentException(what + " need about " + (need >> 20) + " MiB of working memory, more than there is to spare (half of this machine's "
                    + (memory >> 20) + " MiB): " + advice);
        }
    }

    /**
     * The working memory of one no-grad text forward ({@code forward} on a tape) over {@code batch} sequences of
     * {@code seq} tokens: measured on one sequence of min(seq, 128) tokens and scaled by the tokens. Attention streams
     * without keeping its probabilities, so nothing grows with the square of the length: all-MiniLM needs 33.0 KiB a token
     * at 1 x 128 tokens and at 64 x 512 alike, while a short probe's fixed part would mislead (1.2 MiB at 8 tokens and at
     * 32, where extrapolating between the two gave 3 KiB a token).
     */
    static long textBatch(Backend backend, BiConsumer<Tape, TokenBatch> forward, int batch, int seq) {
        int tokens = Math.min(seq, 128);
        return (long) Math.ceil(probe(backend, forward, tokens) * ((double) batch * seq / tokens));
    }

    /**
     * Refuses {@code atOnce} batches of {@code batch} texts of up to {@code seq} tokens whose working memory
     * ({@link #textBatch}) would take more than half of the machine's; {@code fewer} names the option that sets
     * {@code atOnce}. Host memory only: a device's allocation beyond its memory fails with an error, not the OOM killer.
     */
    static void refuseTextBatches(Backend backend, BiConsumer<Tape, TokenBatch> forward, int batch, int seq, int atOnce, String fewer) {
        if (!backend.memory().isHost()) return;
        long need = textBatch(backend, forward, batch, seq) * atOnce;
        refuseBeyondHalf(need, "batches of " + batch + " texts of up to " + seq + " tokens, " + atOnce + " at a time,", "ask for smaller batches, shorter texts or fewer " + fewer);
    }

    private static long probe(Backend backend, BiConsumer<Tape, TokenBatch> forward, int tokens) {
        try (Workspace ws = new Workspace(); Arena step = Arena.ofConfined()) {
            try (Tape t = new Tape(backend, false, false, ws)) {
                forward.accept(t, TokenBatch.of(step, new int[][] {new int[tokens]}, null)); // id 0 ([PAD] in BERT's vocabulary): any id costs the same
            }
            return ws.needed();
        }
    }
}
