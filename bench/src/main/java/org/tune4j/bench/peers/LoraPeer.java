package org.tune4j.bench.peers;

/**
 * Another framework's LoRA layer training step (forward and backward with W frozen, no optimizer),
 * found through {@link java.util.ServiceLoader}; PyTorch through DJL with {@code -Ppeers}.
 */
public interface LoraPeer {
    /**
     * A measured median in ms, or null with the reason it could not be measured; {@code oursMs}: the median of the step of
     * ours handed in, timed in alternation with the peer's ({@link org.tune4j.bench.Measure#alternatedCalls}).
     */
    record Result(String peer, Double medianMs, String whyNot, Double oursMs) {
        public Result(String peer, String whyNot) {
            this(peer, null, whyNot, null);
        }
    }

    String name();

    /** The peer's step beside {@code ours}, the same step of tune4j's. Never throws: a failure is a result with a reason. */
    Result stepMs(int t, int dIn, int dOut, int r, int threads, boolean quick, Runnable ours);
}
