package org.tune4j.bench.peers;

import java.nio.file.Path;

/**
 * Another runtime running a BERT's forward pass from its ONNX file (ONNX Runtime with {@code -Ppeers}) on the
 * same token ids: the inference peer of {@code bench bert}.
 */
public interface BertPeer {
    /** A measured median in ms, or null with the reason it could not be measured. */
    record Result(String peer, Double medianMs, String whyNot) {}

    String name();

    /** One forward pass of {@code batch} sequences of {@code ids} (each [seq], no padding). Never throws. */
    Result forwardMs(Path onnx, int[] ids, int batch, int threads, boolean quick);
}
