package org.tune4j.serve;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.tune4j.autograd.Tape;
import org.tune4j.autograd.Workspace;
import org.tune4j.backend.Backend;
import org.tune4j.data.TextTokenizer;
import org.tune4j.data.TokenBatch;
import org.tune4j.io.SentencePipeline;
import org.tune4j.nn.AdapterRouting;
import org.tune4j.nn.BertClassifier;
import org.tune4j.nn.BertModel;
import org.tune4j.tensor.Memory;
import org.tune4j.tensor.Tensor;

/**
 * Classifies and embeds texts over one frozen encoder with many LoRA adapters, requests for different adapters in
 * one batch (ARCHITECTURE.md "Many adapters"): the encoder runs once for the batch, each sequence's projections
 * take its adapter's low-rank term, and each sequence gets its adapter's head. The Java API the HTTP server runs
 * too. Requests are checked first and refused with an {@link IllegalArgumentException} naming the request and what
 * is wrong ({@link AdapterRegistry.UnknownAdapterException} for an adapter not loaded); the model never changes.
 * Up to {@code workspaces} batches run at a time; callers beyond that wait.
 */
public final class AdapterPredictor implements AutoCloseable {
    /** One text for one adapter (null: the base encoder alone, embed only). */
    public record Request(String adapter, String text) {}

    /**
     * What a request gets: its embedding (the pooled last hidden state: as its adapter's head pools it, or without a head
     * as the predictor's {@link SentencePipeline} does; not normalized, {@link SentencePipeline#finish} does that) and,
     * when its adapter has a classifier head, the class probabilities (else null); {@code tokens}: the tokens its text took,
     * [CLS] and [SEP] included (what an API bills as usage).
     */
    public record Result(String adapter, float[] embedding, List<String> classes, float[] probabilities, int tokens) {
        /** The most probable class, or null for an embedding. */
        public String label() {
            if (probabilities == null) return null;
            int best = 0;
            for (int k = 1; k < probabilities.length; k++) if (probabilities[k] > probabilities[best]) best = k;
            return classes.get(best);
        }
    }

    private final Backend backend;
    private final BertModel model;
    private final TextTokenizer tokenizer;
    private final AdapterRegistry registry;
    private final LeasePool<Workspace> workspaces;
    private final SentencePipeline pipeline;

    /** As the constructor below with mean pooling and no normalization (the pooled vector as it is). */
    public AdapterPredictor(Backend backend, BertModel model, TextTokenizer tokenizer, AdapterRegistry registry, int workspaces) {
        this(backend, model, tokenizer, registry, workspaces, new SentencePipeline(BertClassifier.Pooling.MEAN, false));
    }

    /**
     * {@code tokenizer} may be null when only token batches are given; {@code workspaces}: batches at a time;
     * {@code pipeline}: how the encoder makes a sentence vector (its folder's, {@link SentencePipeline#readOrDefault}), the
     * pooling of every sequence whose adapter has no head of its own.
     */
    public AdapterPredictor(Backend backend, BertModel model, TextTokenizer tokenizer, AdapterRegistry registry, int workspaces, SentencePipeline pipeline) {
        this.pipeline = java.util.Objects.requireNonNull(pipeline, "pipeline");
        this.backend = backend;
        this.model = model;
        this.tokenizer = tokenizer;
        this.registry = registry;
        this.workspaces = LeasePool.workspaces("this AdapterPredictor", workspaces);
        model.train(false);
    }

    /**
     * Refuses batches of {@code batch} texts, {@code atOnce} of them at a time, whose working memory would not fit
     * ({@link WorkingMemory}): measured on the base encoder (an adapter's low-rank terms add little beside it), at the
     * tokenizer's length (the model's positions without one).
     */
    public void refuseBeyondMemory(int batch, int atOnce) {
        int seq = tokenizer != null ? tokenizer.maxLength() : model.config().maxPositions();
        WorkingMemory.refuseTextBatches(backend, (t, in) -> BertClassifier.pool(t, model.forward(t, in), in, BertClassifier.Pooling.MEAN), batch, seq, atOnce, "workers");
    }

    public AdapterRegistry registry() {
        return registry;
    }

    /** The shared encoder. */
    public BertModel model() {
        return model;
    }

    /** How the encoder makes a sentence vector (the pooling of sequences without a head, and whether embeddings are normalized). */
    public SentencePipeline pipeline() {
        return pipeline;
    }

    /** Each request's result, in order; {@code classify} refuses a request whose adapter has no classifier head. */
    public List<Result> run(List<Request> requests, boolean classify) {
        if (tokenizer == null) throw new IllegalStateException("this predictor was made without a tokenizer: give it token batches (run(Arena, TokenBatch, ...))");
        check(requests, classify);
        // sequences grouped by adapter: one segment per adapter in the kernels
        Integer[] order = new Integer[requests.size()];
        for (int i = 0; i < order.length; i++) order[i] = i;
        Arrays.sort(order, Comparator.comparing((Integer i) -> requests.get(i).adapter(), Comparator.nullsFirst(Comparator.naturalOrder())));
        List<String> texts = new ArrayList<>(order.length), ids = new ArrayList<>(order.length);
        for (int i : order) {
            texts.add(requests.get(i).text());
            ids.add(requests.get(i).adapter());
        }
        try (Arena arena = Arena.ofConfined()) {
            List<Result> sorted = run(arena, tokenizer.encode(arena, texts), ids, classify);
            Result[] out = new Result[order.length];
            for (int k = 0; k < order.length; k++) out[order[k]] = sorted.get(k);
            return List.of(out);
        }
    }

    /** As {@link #run(List, boolean)} on tokens already in a batch: sequence b through adapter {@code adapters.get(b)}. */
    public List<Result> run(Arena arena, TokenBatch in, List<String> adapters, boolean classify) {
        if (adapters.size() != in.batch()) throw new IllegalArgumentException(adapters.size() + " adapter ids for a batch of " + in.batch() + " sequences");
        Map<String, Integer> index = new LinkedHashMap<>();
        int[] sequenceAdapter = new int[in.batch()];
        for (int b = 0; b < in.batch(); b++) {
            String id = adapters.get(b);
            sequenceAdapter[b] = id == null ? -1 : index.computeIfAbsent(id, k -> index.size());
        }
        Workspace ws = workspaces.take();
        try (AdapterRegistry.Lease lease = registry.acquire(new ArrayList<>(index.keySet()))) {
            List<Map<String, AdapterRouting.Factors>> factors = new ArrayList<>();
            for (AdapterRegistry.Adapter a : lease.adapters()) factors.add(a.factors());
            for (int b = 0; b < in.batch(); b++) {
                AdapterRegistry.Adapter a = sequenceAdapter[b] < 0 ? null : lease.adapters().get(sequenceAdapter[b]);
                if (classify && (a == null || a.head() == null)) throw new IllegalArgumentException("sequence " + b + ": adapter " + adapters.get(b) + " has no classifier head to classify with");
            }
            AdapterRouting routing = AdapterRouting.of(arena, factors, sequenceAdapter, in.seq());
            try (Tape t = new Tape(backend, false, false, ws)) {
                var hidden = model.forward(t, in, routing);
                BertClassifier.Pooling[] pooling = new BertClassifier.Pooling[in.batch()];
                for (int b = 0; b < in.batch(); b++) {
                    AdapterRegistry.Adapter a = sequenceAdapter[b] < 0 ? null : lease.adapters().get(sequenceAdapter[b]);
                    pooling[b] = a != null && a.head() != null ? a.head().pooling() : pipeline.pooling();
                }
                List<BertClassifier.Pooling> modes = Arrays.asList(pooling);
                Tensor mean = modes.contains(BertClassifier.Pooling.MEAN) ? host(arena, BertClassifier.pool(t, hidden, in, BertClassifier.Pooling.MEAN).value()) : null;
                Tensor cls = modes.contains(BertClassifier.Pooling.CLS) ? host(arena, BertClassifier.pool(t, hidden, in, BertClassifier.Pooling.CLS).value()) : null; // each only when a sequence pools so
                Tensor lengths = host(arena, in.lengths());
                List<Result> out = new ArrayList<>(in.batch());
                for (int b = 0; b < in.batch(); b++) {
                    AdapterRegistry.Adapter a = sequenceAdapter[b] < 0 ? null : lease.adapters().get(sequenceAdapter[b]);
                    AdapterRegistry.Head head = a == null ? null : a.head();
                    Tensor pooled = pooling[b] == BertClassifier.Pooling.CLS ? cls : mean;
                    float[] e = new float[(int) pooled.dim(1)];
                    for (int j = 0; j < e.length; j++) e[j] = pooled.getFloat(b, j);
                    out.add(head != null ? new Result(adapters.get(b), e, head.classes(), probabilities(head, e), lengths.getInt(b))
                            : new Result(adapters.get(b), e, null, null, lengths.getInt(b)));
                }
                return out;
            }
        } finally {
            workspaces.give(ws);
        }
    }

    private static Tensor host(Arena arena, Tensor t) {
        return t.isHost() ? t.copy(arena) : t.copy(arena, Memory.HOST);
    }

    /** softmax(W e + b), in double. */
    private static float[] probabilities(AdapterRegistry.Head head, float[] e) {
        int classes = head.bias().length;
        double[] z = new double[classes];
        double max = Double.NEGATIVE_INFINITY, sum = 0;
        for (int k = 0; k < classes; k++) {
            double s = head.bias()[k];
            for (int j = 0; j < e.length; j++) s += (double) head.weight()[k][j] * e[j];
            z[k] = s;
            max = Math.max(max, s);
        }
        for (int k = 0; k < classes; k++) sum += z[k] = Math.exp(z[k] - max);
        float[] p = new float[classes];
        for (int k = 0; k < classes; k++) p[k] = (float) (z[k] / sum);
        return p;
    }

    private void check(List<Request> requests, boolean classify) {
        workspaces.checkOpen();
        if (requests == null || requests.isEmpty()) throw new IllegalArgumentException("no requests");
        for (int i = 0; i < requests.size(); i++) {
            Request r = requests.get(i);
            if (r == null || r.text() == null) throw new IllegalArgumentException("request " + i + " has no text");
            if (r.text().isBlank()) throw new IllegalArgumentException("request " + i + ": the text is empty");
            if (r.adapter() == null && classify) throw new IllegalArgumentException("request " + i + " names no adapter: classifying needs an adapter's head");
        }
    }


    /** Refuses new calls, waits for those in flight to finish, then frees the workspaces (the model, tokenizer and registry are the caller's). */
    @Override
    public void close() {
        workspaces.close();
    }
}
