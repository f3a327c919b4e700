package org.tune4j.serve;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.tune4j.backend.Backend;
import org.tune4j.backend.CpuBackend;
import org.tune4j.io.BertCheckpoint;
import org.tune4j.io.SentencePipeline;
import org.tune4j.nn.BertClassifier;
import org.tune4j.nn.BertModel;
import org.tune4j.nn.CompressedLinear;
import org.tune4j.tensor.Memory;
import org.tune4j.tensor.Tensor;

/**
 * Sentence embeddings from a Hugging Face folder, for a service that embeds tune4j: the encoder loaded and checked (its
 * projections packed once for the CPU GEMM, or compressed to int8 or 2:4, or the model moved into a device backend's
 * memory), texts tokenized, run in batches of about one length, and pooled and normalized as the folder's
 * sentence-transformers modules say ({@link SentencePipeline}; {@code tune4j embed} runs
 * this). Safe from many threads: up to {@code workspaces} batches run at a time, each on memory of its own that later
 * calls reuse; callers beyond that wait; {@link #close} waits for the calls in flight. Bad input (no texts, an empty text) is an {@link IllegalArgumentException};
 * the model never changes.
 */
public final class SentenceEncoder implements AutoCloseable {
    /**
     * {@code pipeline}: how vectors are pooled and normalized (null: the folder's); {@code maxLength}: tokens kept per text
     * (0: the folder's max_seq_length, or where it says none 256 or the model's positions if fewer); {@code batch}: texts
     * per forward; {@code workspaces}: batches at a time; {@code weights}: how the encoder's projections are stored (null:
     * f32; int8, 2:4 or both run on the CPU only).
     */
    public record Options(SentencePipeline pipeline, int maxLength, int batch, int workspaces, CompressedLinear.Format weights) {
        public Options {
            if (maxLength != 0 && maxLength < 2) throw new IllegalArgumentException("maxLength must be >= 2 (0: the folder's), is " + maxLength);
            if (batch < 1 || batch > 4096) throw new IllegalArgumentException("batch must be in [1, 4096], is " + batch);
            if (workspaces < 1 || workspaces > LeasePool.MAX) throw new IllegalArgumentException("workspaces must be in [1, " + LeasePool.MAX + "], is " + workspaces);
        }

        /** f32 weights. */
        public Options(SentencePipeline pipeline, int maxLength, int batch, int workspaces) {
            this(pipeline, maxLength, batch, workspaces, null);
        }

        /** The folder's pipeline and length, batches of 32, one workspace per available processor. */
        public static Options defaults() {
            return new Options(null, 0, 32, Math.min(LeasePool.MAX, Runtime.getRuntime().availableProcessors()), null);
        }
    }

    private final BertModel model;
    private final SentencePipeline pipeline;
    private final TextBatches batches;
    private final double weightError;

    private SentenceEncoder(Backend backend, Path folder, Options o) throws IOException {
        java.util.Objects.requireNonNull(backend, "backend");
        pipeline = o.pipeline() != null ? o.pipeline() : SentencePipeline.readOrDefault(folder);
        Arena arena = Arena.ofShared(); // the model's memory: the batches' to close once open
        TextBatches opened = null;
        try {
            model = BertCheckpoint.load(arena, folder);
            opened = TextBatches.open("this SentenceEncoder", backend, folder, o.maxLength(), model.config(), o.batch(), o.workspaces(), arena);
            weightError = TextBatches.place(model, model, backend, arena, o.weights());
            opened.refuseBeyondMemory((t, in) -> BertClassifier.pool(t, model.forward(t, in), in, pipeline.pooling()));
        } catch (IOException | RuntimeException e) {
            if (opened != null) opened.close(); // and the arena with it
            else arena.close();
            throw e;
        }
        batches = opened;
    }

    /** The encoder in {@code folder} (config.json, model.safetensors, tokenizer.json, optionally the sentence-transformers modules), computed by {@code backend}. */
    public static SentenceEncoder open(Backend backend, Path folder, Options o) throws IOException {
        return new SentenceEncoder(backend, folder, o);
    }

    /** As {@link #open(Backend, Path, Options)} on the CPU. */
    public static SentenceEncoder open(Path folder, Options o) throws IOException {
        return open(CpuBackend.get(), folder, o);
    }

    /** As {@link #open(Backend, Path, Options)} on the CPU with {@link Options#defaults()}. */
    public static SentenceEncoder open(Path folder) throws IOException {
        return open(folder, Options.defaults());
    }

    /** One vector [dimension] per text, in order. */
    public float[][] encode(List<String> texts) {
        float[][] out = new float[texts == null ? 0 : texts.size()][];
        batches.run(texts, (t, step, in, places) -> {
            Tensor p = BertClassifier.pool(t, model.forward(t, in), in, pipeline.pooling()).value(); // [batch, dimension]
            float[] rows = (p.isHost() ? p : p.copy(step, Memory.HOST)).toFloatArray();
            int d = dimension();
            for (int b = 0; b < places.length; b++) out[places[b]] = pipeline.finish(Arrays.copyOfRange(rows, b * d, (b + 1) * d));
        });
        return out;
    }

    /** The length of a vector: the encoder's width. */
    public int dimension() {
        return model.config().hidden();
    }

    /** How vectors are pooled and normalized. */
    public SentencePipeline pipeline() {
        return pipeline;
    }

    /** The worst relative error ‖W' − W‖ / ‖W‖ of a projection's stored weights (0 for f32). */
    public double weightError() {
        return weightError;
    }

    /** Tokens kept per text, [CLS] and [SEP] included. */
    public int maxLength() {
        return batches.maxLength();
    }

    /** Refuses new calls, waits for those in flight to finish, then frees the encoder's memory. */
    @Override
    public void close() {
        batches.close();
    }
}
