package org.tune4j.bench.peers;

import org.tune4j.nn.VisionTransformer;

/**
 * Another framework's training step of the main job's ViT (forward, backward, AdamW), found through
 * {@link java.util.ServiceLoader}; PyTorch through DJL with {@code -Ppeers}.
 */
public interface TrainPeer {
    String name();

    /**
     * The median step time of {@code method} ("full": every weight trains; "lora": a rank-{@code rank}
     * adapter on each qkv, proj, fc1 and fc2 over frozen weights) at {@code batch} images. Never throws:
     * a failure is a result with a reason. {@code ours}: tune4j's same step, timed in alternation with the peer's
     * ({@link org.tune4j.bench.Measure#alternatedSteps}).
     */
    PeerResult stepMs(String method, VisionTransformer.Config vit, int batch, int rank, int threads, boolean quick, Runnable ours);
}
