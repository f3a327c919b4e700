package org.tune4j.backend.cuda;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.tune4j.tensor.Memory;
import org.tune4j.tensor.Tensor;

/**
 * An op {@link CudaBackend} has no kernel for, run by the CPU backend on host copies of its tensors: the
 * explicit, counted fallback of ARCHITECTURE.md ("One engine"). {@link #in} gives the host view of an
 * argument the op reads, {@link #out} of one it writes or accumulates into (copied back when the op is
 * done); host tensors pass through untouched. A test or a benchmark asserts on {@link Counts} that a step
 * ran without one.
 */
final class HostFallback implements AutoCloseable {
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(HostFallback.class);

    /** Fallbacks by op name, since the backend was opened (or last reset). */
    static final class Counts {
        private final Map<String, Long> byOp = new TreeMap<>();

        /** Counts a call of op; an op's first is logged (DEBUG): every later one costs the same copies. */
        synchronized void add(String op) {
            if (byOp.merge(op, 1L, Long::sum) == 1L) LOG.debug("{} runs on the CPU, on host copies of its tensors: no device kernel takes this call", op);
        }

        synchronized Map<String, Long> snapshot() {
            return new TreeMap<>(byOp);
        }

        synchronized void reset() {
            byOp.clear();
        }
    }

    private final Arena arena = Arena.ofConfined();
    private final Map<Tensor, Tensor> hostOf = new IdentityHashMap<>();
    private final List<Tensor[]> writeBack = new ArrayList<>();

    HostFallback(Counts counts, String op) {
        counts.add(op);
    }

    /**
     * The host tensor the CPU op reads for {@code t} (null stays null): a view keeps its row stride, so the CPU's checks
     * see the layout the caller gave (a view an op refuses on the CPU is refused here too, by the same message).
     */
    Tensor in(Tensor t) {
        if (t == null || t.isHost()) return t;
        return hostOf.computeIfAbsent(t, d -> d.copyKeepingStride(arena, Memory.HOST));
    }

    /** As {@link #in}, and copied back into {@code t} when the op is done. */
    Tensor out(Tensor t) {
        Tensor h = in(t);
        if (h != t) writeBack.add(new Tensor[] {h, t});
        return h;
    }

    @Override
    public void close() {
        try {
            for (Tensor[] pair : writeBack) pair[1].copyFrom(pair[0]);
        } finally {
            arena.close();
        }
    }
}
