package org.tune4j.bench.peers;

/**
 * Another runtime's int8 and f32 matrix products for the int8 suite (ONNX Runtime's MatMulInteger
 * and MatMul with {@code -Ppeers}). Weights are constants of the model, prepared once; {@code rotate}
 * weight sets are cycled through so that, when they are larger than the caches, every call reads its
 * weights from memory, as a service with many layers does.
 */
public interface Int8Peer {
    /**
     * A measured median in ms, or null with the reason it could not be measured; {@code oursMs}: the median of the call of
     * ours handed in, timed in alternation with the peer's ({@link org.tune4j.bench.Measure#alternatedCalls}), and
     * {@code speedupRange} the lowest and highest peer / ours of a block ({@link org.tune4j.bench.Measure.Blocks#ratioRange}), null with oursMs.
     */
    record Result(String peer, Double medianMs, String whyNot, Double oursMs, double[] speedupRange) {
        public Result(String peer, String whyNot) {
            this(peer, null, whyNot, null, null);
        }

        /** The peer's and our medians and the speedup's range from blocks timed with the peer's call as piece 0, ours as 1. */
        public static Result of(String peer, org.tune4j.bench.Measure.Blocks b) {
            return new Result(peer, b.medianMs()[0], null, b.medianMs()[1], b.ratioRange(0, 1));
        }
    }

    String name();

    /** u8 activations [m, k] × s8 weights [k, n] → s32, no dequantization, beside {@code ours}. Never throws. */
    Result matMulInteger(int m, int n, int k, int threads, int rotate, boolean quick, Runnable ours);

    /** f32 [m, k] × [k, n], beside {@code ours}. Never throws. */
    Result matMulF32(int m, int n, int k, int threads, int rotate, boolean quick, Runnable ours);
}
