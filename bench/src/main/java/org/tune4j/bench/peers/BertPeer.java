package org.tune4j.bench.peers;

import java.nio.file.Path;
import java.util.List;
import java.util.function.Function;

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

    /** A loaded model that embeds texts as sentence-transformers' MiniLM does. */
    interface Embedder extends AutoCloseable {
        /** Each batch tokenized, padded to its longest with the attention mask, run, mean-pooled over the mask and scaled to unit length; the vectors in the batches' order. */
        float[][] embed(List<List<String>> batches);

        @Override
        void close();
    }

    /** Loads {@code onnx} for {@code threads} threads to embed texts that {@code tokenize} turns into ids (each text's own length). */
    Embedder embedder(Path onnx, Function<List<String>, int[][]> tokenize, int threads) throws Exception;
}
