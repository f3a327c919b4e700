package org.tune4j.bench.peers;

/**
 * Another framework's LoRA layer training step (forward and backward with W frozen, no optimizer),
 * found through {@link java.util.ServiceLoader}; PyTorch through DJL with {@code -Ppeers}.
 */
public interface LoraPeer {
    String name();

    /** The peer's step beside {@code ours}, the same step of tune4j's. Never throws: a failure is a result with a reason. */
    PeerResult stepMs(int t, int dIn, int dOut, int r, int threads, boolean quick, Runnable ours);
}
