package org.tune4j.nn;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.tune4j.autograd.Tape;
import org.tune4j.autograd.Var;
import org.tune4j.data.TokenBatch;

/**
 * A BERT encoder (BertModel without its pooler), parameters named as Hugging Face's checkpoints
 * ("embeddings.word_embeddings.weight", "encoder.layer.0.attention.self.query.weight", ...):
 * x = LN(word[ids] + position[t] + token_type[type ids]), then the layers; the output is
 * {@code last_hidden_state} [batch·seq, hidden]. Written once on the tape: training, no-grad inference and
 * input gradients are the same code.
 */
public final class BertModel extends Module {
    private final BertConfig config;
    private final Embedding word, position, tokenType;
    private final LayerNorm embeddingNorm;
    private final List<BertLayer> layers = new ArrayList<>();

    public BertModel(Arena arena, BertConfig c, SplittableRandom rng) {
        config = c;
        Module embeddings = register("embeddings", new Module() {});
        word = embeddings.register("word_embeddings", new Embedding(arena, c.vocabSize(), c.hidden(), rng));
        position = embeddings.register("position_embeddings", new Embedding(arena, c.maxPositions(), c.hidden(), rng));
        tokenType = embeddings.register("token_type_embeddings", new Embedding(arena, c.typeVocabSize(), c.hidden(), rng));
        embeddingNorm = embeddings.register("LayerNorm", new LayerNorm(arena, c.hidden(), c.layerNormEps()));
        Module list = register("encoder", new Module() {}).register("layer", new Module() {});
        for (int i = 0; i < c.layers(); i++) layers.add(list.register(String.valueOf(i), new BertLayer(arena, c, rng)));
    }

    public BertConfig config() {
        return config;
    }

    /** last_hidden_state [batch·seq, hidden] for a batch of token ids. */
    public Var forward(Tape t, TokenBatch in) {
        return forward(t, in, null);
    }

    /**
     * As {@link #forward(Tape, TokenBatch)}, each sequence through the adapter {@code routing} gives it (null: none),
     * once {@link #serveManyAdapters} has made every projection a {@link MultiLoraLinear}.
     */
    public Var forward(Tape t, TokenBatch in, AdapterRouting routing) {
        return forward(t, in, routing, null);
    }

    /**
     * As {@link #forward(Tape, TokenBatch, AdapterRouting)}, with {@code embeddingDelta} [batch·seq, hidden] (null: none)
     * added to the summed embeddings before their LayerNorm: the perturbation of adversarial training in embedding
     * space (FreeLB, Zhu et al. 2020), whose gradient the tape gives when it was made an input that requires one.
     */
    public Var forward(Tape t, TokenBatch in, AdapterRouting routing, Var embeddingDelta) {
        check(in);
        long mark = t.mark(); // no-grad on a workspace: each stage's activations are freed but its output (Tape.keepOnly)
        Var x = t.add(t.add(word.forward(t, in.ids()), position.forward(t, in.positions())), tokenType.forward(t, in.typeIds()));
        if (embeddingDelta != null) x = t.add(x, embeddingDelta);
        x = t.keepOnly(mark, embeddingNorm.forward(t, x));
        for (BertLayer layer : layers) {
            mark = t.mark();
            x = t.keepOnly(mark, layer.forward(t, x, in.batch(), in.lengths(), routing));
        }
        return x;
    }

    /**
     * Makes every projection of every layer (query, key, value, attention.output.dense, intermediate.dense,
     * output.dense) a {@link MultiLoraLinear} over its current layer (f32, int8 or 2:4), so that batches can mix
     * adapters: returns them by path ("encoder.layer.0.attention.self.query", PEFT's keys). The model must hold no
     * LoRA of its own (merge it first). Idempotent.
     */
    public java.util.Map<String, MultiLoraLinear> serveManyAdapters() {
        java.util.Map<String, MultiLoraLinear> out = new java.util.LinkedHashMap<>();
        for (var e : new java.util.LinkedHashMap<>(namedModules()).entrySet()) {
            String path = e.getKey();
            if (!path.startsWith("encoder.layer.") || !(path.endsWith(".query") || path.endsWith(".key") || path.endsWith(".value") || path.endsWith(".dense"))) continue;
            if (path.contains(".base")) continue;
            Module m = e.getValue();
            if (m instanceof MultiLoraLinear multi) {
                out.put(path, multi);
            } else if (m instanceof LoraLinear) {
                throw new IllegalStateException(path + " holds a LoRA adapter of its own: merge it into the base before serving many adapters");
            } else {
                MultiLoraLinear multi = new MultiLoraLinear(path, m);
                replaceModule(path, multi);
                out.put(path, multi);
            }
        }
        return out;
    }

    /**
     * Replaces every projection of every layer by its compressed form ({@link CompressedLinear}: int8 per output
     * channel, 2:4, or int8 2:4), in {@code arena}: the frozen base that many adapters are served over. Call it
     * before {@link #serveManyAdapters}; the worst relative weight error is returned.
     */
    public double compressProjections(Arena arena, org.tune4j.backend.Backend backend, CompressedLinear.Format format) {
        double worst = 0;
        for (var e : new java.util.LinkedHashMap<>(namedModules()).entrySet()) {
            if (!e.getKey().startsWith("encoder.layer.") || !(e.getValue() instanceof Linear lin)) continue;
            CompressedLinear c = CompressedLinear.compress(arena, backend, format, lin.weight().value(), lin.bias() == null ? null : lin.bias().value(), null, null, 0f);
            worst = Math.max(worst, c.relativeError());
            replaceModule(e.getKey(), c);
        }
        return worst;
    }

    /**
     * Makes every f32 projection of every layer a {@link PackedLinear} (frozen, its weight packed into {@code arena}
     * for the CPU GEMM): what an inference service does once at load, as ONNX Runtime packs a model's constant
     * weights when it opens a session. For a model on the host that is not trained afterwards; a projection under a
     * LoRA adapter (its ".base") stays as it is. Returns the projections packed.
     */
    public int packProjections(Arena arena) {
        int packed = 0;
        for (var e : new java.util.LinkedHashMap<>(namedModules()).entrySet()) {
            if (!(projection(e.getKey(), e.getValue()) instanceof Linear lin)) continue;
            if (lin.weight().value().memory() != org.tune4j.tensor.Memory.HOST) throw new IllegalStateException(e.getKey() + " is not in host memory: packed weights are the CPU's");
            replaceModule(e.getKey(), PackedLinear.of(arena, lin));
            packed++;
        }
        return packed;
    }

    /**
     * The layers' frozen f32 projections, and the frozen bases of their LoRA adapters (not DoRA's, whose op runs on W
     * itself), each packed with its transpose ({@link PackedLinearWeights#packWithTransposed}), for each tape of a
     * training step ({@link Tape#packedWeights}): the step's products on them, forward and input gradient, then run on
     * packed weights, on AMX tiles where the CPU has AMX-BF16 ({@link org.tune4j.backend.CpuBackend#linearAmx}). Costs
     * 16 bytes more a weight there (MiniLM: 141 MB, 170 MB with LoRA on query and value), 12 elsewhere. The weights
     * must stay frozen while the packing is in use.
     */
    public java.util.Map<org.tune4j.tensor.Tensor, org.tune4j.backend.PackedLinearWeights> packFrozenProjections(Arena arena) {
        var packed = new java.util.IdentityHashMap<org.tune4j.tensor.Tensor, org.tune4j.backend.PackedLinearWeights>();
        for (var e : namedModules().entrySet()) {
            Linear lin = projection(e.getKey(), e.getValue());
            if (lin == null && e.getKey().startsWith("encoder.layer.") && e.getValue() instanceof LoraLinear lora && lora.magnitude() == null && !lora.merged()) lin = lora.base();
            if (lin == null || lin.weight().trainable()) continue;
            packed.put(lin.weight().value(), org.tune4j.backend.PackedLinearWeights.packWithTransposed(arena, lin.weight().value()));
        }
        return packed;
    }

    /** The module at path if it is a layer's plain f32 projection (not one under a LoRA adapter, its ".base"), else null. */
    private static Linear projection(String path, Module m) {
        return path.startsWith("encoder.layer.") && !path.endsWith(".base") && m instanceof Linear lin ? lin : null;
    }

    private void check(TokenBatch in) {
        if (in.seq() > config.maxPositions()) {
            throw new IllegalArgumentException("sequences of " + in.seq() + " tokens exceed the model's max_position_embeddings " + config.maxPositions());
        }
    }
}
