package org.tune4j.bench.peers;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.norm.LayerNorm;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.tune4j.nn.BertConfig;

/**
 * A BERT classifier in PyTorch's ops through DJL, as Hugging Face's BertModel computes it: word, position and
 * token-type embeddings, LayerNorm (the config's eps), post-LN blocks of multi-head attention with the additive
 * mask and an erf-GELU FFN, mean pooling over the mask, a linear head; LoRA as PEFT's lora.Linear
 * (y = x Wᵀ + b + s (x Aᵀ) Bᵀ) on query and value. Tensors are named as tune4j's {@code BertClassifier}'s and
 * kept in tune4j's layout ([out, in], A [r, in], B [out, r]); the forward transposes the matrices it multiplies
 * by, so gradients come back in that layout too.
 */
final class DjlBert {
    final BertConfig c;
    final Map<String, NDArray> p = new LinkedHashMap<>();
    final List<NDArray> trained = new ArrayList<>();
    final float scale;
    final boolean lora;

    private DjlBert(BertConfig c, boolean lora, float scale) {
        this.c = c;
        this.lora = lora;
        this.scale = scale;
    }

    /** Random weights (a speed peer: values do not matter), LoRA of {@code rank} (alpha 2r) when rank > 0. */
    static DjlBert random(NDManager m, BertConfig c, int rank) {
        return of(m, c, rank, 2f, (name, shape) -> name.endsWith("lora_B") ? m.zeros(new Shape(shape)) : m.randomUniform(-0.05f, 0.05f, new Shape(shape)));
    }

    /** Weights from {@code source} (name and shape in tune4j's layout → the values); LoRA of {@code rank} with scale {@code scale} when rank > 0. */
    static DjlBert of(NDManager m, BertConfig c, int rank, float scale, java.util.function.BiFunction<String, long[], NDArray> source) {
        DjlBert b = new DjlBert(c, rank > 0, scale);
        int d = c.hidden(), f = c.intermediate();
        Function<String, String> e = s -> "bert.embeddings." + s;
        b.put(source, e.apply("word_embeddings.weight"), c.vocabSize(), d);
        b.put(source, e.apply("position_embeddings.weight"), c.maxPositions(), d);
        b.put(source, e.apply("token_type_embeddings.weight"), c.typeVocabSize(), d);
        b.put(source, e.apply("LayerNorm.weight"), d);
        b.put(source, e.apply("LayerNorm.bias"), d);
        for (int i = 0; i < c.layers(); i++) {
            String l = "bert.encoder.layer." + i + ".";
            for (String proj : List.of("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense")) {
                boolean adapted = b.lora && (proj.endsWith("query") || proj.endsWith("value"));
                String base = l + proj + (adapted ? ".base" : "");
                b.put(source, base + ".weight", d, d);
                b.put(source, base + ".bias", d);
                if (adapted) {
                    b.put(source, l + proj + ".lora_A", rank, d);
                    b.put(source, l + proj + ".lora_B", d, rank);
                }
            }
            b.put(source, l + "attention.output.LayerNorm.weight", d);
            b.put(source, l + "attention.output.LayerNorm.bias", d);
            b.put(source, l + "intermediate.dense.weight", f, d);
            b.put(source, l + "intermediate.dense.bias", f);
            b.put(source, l + "output.dense.weight", d, f);
            b.put(source, l + "output.dense.bias", d);
            b.put(source, l + "output.LayerNorm.weight", d);
            b.put(source, l + "output.LayerNorm.bias", d);
        }
        b.put(source, "classifier.weight", 2, d);
        b.put(source, "classifier.bias", 2);
        b.p.forEach((name, t) -> {
            if (!b.lora || name.contains("lora_") || name.startsWith("classifier.")) b.trained.add(t);
        });
        for (NDArray t : b.trained) t.setRequiresGradient(true);
        return b;
    }

    private void put(java.util.function.BiFunction<String, long[], NDArray> source, String name, long... shape) {
        p.put(name, source.apply(name, shape));
    }

    private NDArray norm(NDArray x, String prefix) {
        return LayerNorm.layerNorm(x, new Shape(c.hidden()), p.get(prefix + ".weight"), p.get(prefix + ".bias"), c.layerNormEps()).get(0);
    }

    /** x Wᵀ + b for the module at {@code path}, plus s (x Aᵀ) Bᵀ when it is adapted. */
    private NDArray linear(NDArray x, String path) {
        NDArray a = p.get(path + ".lora_A");
        String base = a == null ? path : path + ".base";
        NDArray y = x.matMul(p.get(base + ".weight").transpose()).add(p.get(base + ".bias"));
        return a == null ? y : y.add(x.matMul(a.transpose()).matMul(p.get(path + ".lora_B").transpose()).mul(scale));
    }

    /** ids [b, s] (INT64), mask [b, s] (1 real, 0 padding) -> logits [b, 2]. */
    NDArray forward(NDArray ids, NDArray mask) {
        long b = ids.getShape().get(0), s = ids.getShape().get(1);
        int d = c.hidden(), heads = c.heads(), dh = d / heads;
        NDManager m = ids.getManager();
        NDArray positions = m.arange(0, (int) s).toType(DataType.INT64, false);
        NDArray x = p.get("bert.embeddings.word_embeddings.weight").get(ids).add(p.get("bert.embeddings.position_embeddings.weight").get(positions))
                .add(p.get("bert.embeddings.token_type_embeddings.weight").get(m.zeros(new Shape(b, s), DataType.INT64)));
        x = norm(x, "bert.embeddings.LayerNorm");
        NDArray additive = mask.sub(1f).mul(1e9f).reshape(b, 1, 1, s); // 0 for real keys, -1e9 for padding
        for (int i = 0; i < c.layers(); i++) {
            String l = "bert.encoder.layer." + i + ".";
            NDArray q = linear(x, l + "attention.self.query").reshape(b, s, heads, dh).transpose(0, 2, 1, 3);
            NDArray k = linear(x, l + "attention.self.key").reshape(b, s, heads, dh).transpose(0, 2, 1, 3);
            NDArray v = linear(x, l + "attention.self.value").reshape(b, s, heads, dh).transpose(0, 2, 1, 3);
            NDArray att = q.matMul(k.transpose(0, 1, 3, 2)).mul(1f / (float) Math.sqrt(dh)).add(additive).softmax(-1).matMul(v);
            NDArray h = norm(x.add(linear(att.transpose(0, 2, 1, 3).reshape(b, s, d), l + "attention.output.dense")), l + "attention.output.LayerNorm");
            x = norm(h.add(linear(Activation.gelu(linear(h, l + "intermediate.dense")), l + "output.dense")), l + "output.LayerNorm");
        }
        NDArray m3 = mask.reshape(b, s, 1);
        NDArray pooled = x.mul(m3).sum(new int[] {1}).div(m3.sum(new int[] {1}));
        return linear(pooled, "classifier");
    }
}
