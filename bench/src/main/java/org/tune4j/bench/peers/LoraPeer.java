package org.tune4j.bench.peers;

/**
 * Another framework's LoRA layer training step (forward and backward with W frozen, no optimizer),
 * found through {@link java.util.ServiceLoader}; PyTorch through DJL with {@code -Ppeers}.
 */
public interface LoraPeer {
    /**
     * A measured median in ms, or null with the reason it could not be measured; {@code oursMs}: the median of the step of
     * ours handed in, timed in alternation with the peer's ({@link org.tune4j.bench.Measure#alternatedCalls});
     * {@code speedupRange}: where the two ran in alternating blocks, the lowest and highest peer / ours of a block
     * ({@link org.tune4j.bench.Measure.Blocks#ratioRange}), else null (always where oursMs is).
     */
    record Result(String peer, Double medianMs, String whyNot, Double oursMs, double[] speedupRange) {
        public Result(String peer, String whyNot) {
            this(peer, null, whyNot, null, null);
        }

        public Result(String peer, Double medianMs, String whyNot, Double oursMs) {
            this(peer, medianMs, whyNot, oursMs, null);
        }

        /** The peer's and our medians and the speedup's range from blocks timed with the peer's step as piece 0, ours as 1. */
        public static Result of(String peer, org.tune4j.bench.Measure.Blocks b) {
            return new Result(peer, b.medianMs()[0], null, b.medianMs()[1], b.ratioRange(0, 1));
        }
    }

    String name();

    /** The peer's step beside {@code ours}, the same step of tune4j's. Never throws: a failure is a result with a reason. */
    Result stepMs(int t, int dIn, int dOut, int r, int threads, boolean quick, Runnable ours);
}
