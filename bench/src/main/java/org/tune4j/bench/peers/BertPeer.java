package org.tune4j.bench.peers;

import java.nio.file.Path;

/**
 * Another runtime running a BERT's forward pass from its ONNX file (ONNX Runtime with {@code -Ppeers}) on the
 * same token ids: the inference peer of {@code bench bert}, which times it in alternation with tune4j's forward.
 */
public interface BertPeer {
    String name();

    /** A loaded model and its inputs: {@code batch} sequences of {@code ids} (each [seq], no padding). */
    interface Session extends AutoCloseable {
        /** One forward pass. */
        void forward();

        @Override
        void close();
    }

    /** Loads {@code onnx} for {@code threads} threads; throws when the runtime cannot (the bench reports why). */
    Session open(Path onnx, int[] ids, int batch, int threads) throws Exception;
}
