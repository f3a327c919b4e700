package org.tune4j.serve;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import org.tune4j.autograd.Tape;
import org.tune4j.autograd.Workspace;
import org.tune4j.backend.Backend;
import org.tune4j.data.TextTokenizer;
import org.tune4j.data.TokenBatch;
import org.tune4j.io.HfCheckpoint;
import org.tune4j.io.SentencePipeline;
import org.tune4j.nn.BertModel;
import org.tune4j.nn.CompressedLinear;
import org.tune4j.nn.Module;

/**
 * What {@link SentenceEncoder} and {@link TextClassifier} share: a folder's tokenizer at the length its texts keep
 * ({@link SentencePipeline#tokensKept}), and texts run in batches of about one length, longest first as
 * sentence-transformers encodes (a batch of similar lengths pads little), each batch tokenized and given a no-grad tape
 * on a workspace of the pool, its results put back at its texts' places in the caller's list. Safe from many threads.
 */
final class TextBatches implements AutoCloseable {
    /** One batch: {@code in} [batch, seq] on tape {@code t}, scratch in {@code step}; {@code places[b]}: where text b was in the caller's list. */
    interface Body {
        void run(Tape t, Arena step, TokenBatch in, int[] places);
    }

    private final Backend backend;
    private final TextTokenizer tokenizer;
    private final int batch;
    private final LeasePool<Workspace> workspaces;
    private final Arena modelMemory;
    private final java.util.concurrent.atomic.AtomicBoolean closed = new java.util.concurrent.atomic.AtomicBoolean();

    private TextBatches(String owner, Backend backend, TextTokenizer tokenizer, int batch, int workspaces, Arena modelMemory) {
        this.modelMemory = modelMemory;
        this.backend = backend;
        this.tokenizer = tokenizer;
        this.batch = batch;
        this.workspaces = LeasePool.workspaces(owner, workspaces);
    }

    /**
     * Batches of {@code batch} texts from {@code folder}'s tokenizer keeping {@code asked} tokens (0: the folder's) of a
     * model shaped {@code config} (its positions and vocabulary bound the tokenizer's), {@code workspaces} at a time;
     * {@code owner} names the predictor in the refusal a call gets after {@link #close}, which also closes
     * {@code modelMemory}, the model's (when open fails, it is the caller's to close).
     */
    static TextBatches open(String owner, Backend backend, Path folder, int asked, org.tune4j.nn.BertConfig config, int batch, int workspaces, Arena modelMemory)
            throws IOException {
        TextTokenizer tok = TextTokenizer.load(folder.resolve(HfCheckpoint.TOKENIZER), SentencePipeline.tokensKept(folder, asked, config.maxPositions()), config.vocabSize());
        try {
            return new TextBatches(owner, backend, tok, batch, workspaces, modelMemory);
        } catch (RuntimeException e) {
            tok.close();
            throw e;
        }
    }

    /** {@code texts} (none null or blank, else an IllegalArgumentException naming it) through {@code body}, longest first, a batch at a time. */
    void run(List<String> texts, Body body) {
        workspaces.checkOpen();
        if (texts == null || texts.isEmpty()) throw new IllegalArgumentException("no texts");
        for (int i = 0; i < texts.size(); i++) {
            if (texts.get(i) == null || texts.get(i).isBlank()) throw new IllegalArgumentException("text " + i + " is empty");
        }
        Integer[] order = new Integer[texts.size()];
        for (int i = 0; i < order.length; i++) order[i] = i;
        Arrays.sort(order, Comparator.comparingInt((Integer i) -> texts.get(i).length()).reversed());
        Workspace ws = workspaces.take();
        try {
            for (int from = 0; from < order.length; from += batch) {
                int n = Math.min(order.length, from + batch) - from;
                List<String> part = new ArrayList<>(n);
                int[] places = new int[n];
                for (int k = 0; k < n; k++) {
                    places[k] = order[from + k];
                    part.add(texts.get(places[k]));
                }
                try (Arena step = Arena.ofConfined(); Tape t = new Tape(backend, false, false, ws)) {
                    body.run(t, step, tokenizer.encode(step, part), places);
                }
            }
        } finally {
            workspaces.give(ws);
        }
    }

    /** Refuses, at open, batches whose working memory would not fit ({@link WorkingMemory}): {@code forward} is the owner's no-grad forward of a batch. */
    void refuseBeyondMemory(java.util.function.BiConsumer<Tape, TokenBatch> forward) {
        WorkingMemory.refuseTextBatches(backend, forward, batch, maxLength(), workspaces.items().size(), "workspaces");
    }

    /**
     * Puts an inference-only {@code model} (its encoder {@code bert}) where {@code backend} computes: with {@code weights}
     * null every projection f32, packed once for the CPU GEMM or the whole model moved into a device backend's memory;
     * else every projection compressed to that format (int8 per output channel, 2:4 by magnitude, or both), which runs
     * on the CPU's kernels only. Returns the worst relative weight error of a projection, ‖W' − W‖ / ‖W‖ (0 for f32).
     */
    static double place(Module model, BertModel bert, Backend backend, Arena arena, CompressedLinear.Format weights) {
        if (!backend.memory().isHost()) {
            if (weights != null) throw new IllegalArgumentException(weights.label() + " weights run on the CPU's kernels only: open it on the CPU backend");
            model.moveTo(backend.memory(), arena);
            return 0;
        }
        if (weights == null) {
            bert.packProjections(arena);
            return 0;
        }
        return bert.compressProjections(arena, backend, weights);
    }

    /** Tokens kept per text, [CLS] and [SEP] included. */
    int maxLength() {
        return tokenizer.maxLength();
    }

    /**
     * Refuses new calls, waits for those in flight (their workspaces back), then frees the workspaces, the tokenizer and
     * the model's memory; a second close does nothing, as AutoCloseable asks.
     */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) return;
        try (modelMemory; tokenizer) { // closed in reverse: the tokenizer, then the model
            workspaces.close();
        }
    }
}
