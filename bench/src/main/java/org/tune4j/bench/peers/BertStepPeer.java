package org.tune4j.bench.peers;

import org.tune4j.nn.BertConfig;

/**
 * Another framework's training step of a BERT classifier (forward, backward, AdamW) on the same shapes as
 * {@code bench bert}'s: PyTorch through DJL with {@code -Ppeers}.
 */
public interface BertStepPeer {
    String name();

    /**
     * The median step time of {@code method} ("full": every weight trains; "lora": rank-{@code rank} adapters on
     * query and value and the head, the rest frozen) at {@code batch} sequences of {@code seq} tokens, timed in
     * alternation with {@code ours}, tune4j's same step ({@link org.tune4j.bench.Measure#alternatedSteps}). Never throws.
     */
    PeerResult stepMs(String method, BertConfig c, int batch, int seq, int rank, int threads, boolean quick, Runnable ours);
}
