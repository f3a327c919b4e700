package org.tune4j.bench.peers;

/**
 * Another runtime's int8 and f32 matrix products for the int8 suite (ONNX Runtime's MatMulInteger
 * and MatMul with {@code -Ppeers}). Weights are constants of the model, prepared once; {@code rotate}
 * weight sets are cycled through so that, when they are larger than the caches, every call reads its
 * weights from memory, as a service with many layers does.
 */
public interface Int8Peer {
    String name();

    /** u8 activations [m, k] × s8 weights [k, n] → s32, no dequantization, beside {@code ours}. Never throws. */
    PeerResult matMulInteger(int m, int n, int k, int threads, int rotate, boolean quick, Runnable ours);

    /** f32 [m, k] × [k, n], beside {@code ours}. Never throws. */
    PeerResult matMulF32(int m, int n, int k, int threads, int rotate, boolean quick, Runnable ours);
}
