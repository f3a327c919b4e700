package org.tune4j.bench.peers;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.norm.LayerNorm;
import ai.djl.training.GradientCollector;
import java.util.ArrayList;
import java.util.List;
import org.tune4j.bench.Measure;
import org.tune4j.nn.BertConfig;

/**
 * A BERT classifier's training step in PyTorch through DJL (offline), written with PyTorch's ops the way
 * Hugging Face's BertModel computes it: word, position and token-type embeddings, LayerNorm (eps from the
 * config), post-LN blocks of multi-head attention with the additive mask and an erf-GELU FFN, mean pooling
 * over the mask, a linear head, cross-entropy, autograd, PyTorch's native Adam kernel in its AdamW form.
 * "lora" trains PEFT's lora.Linear on query and value (y = x Wᵀ + b + s (x Aᵀ) Bᵀ) and the head, the rest
 * frozen. Weights are kept [in, out], so no transpose is made per step; random values (speed does not depend on them).
 */
public final class DjlBertStep implements BertStepPeer {
    @Override
    public String name() {
        return DjlPytorch.label();
    }

    @Override
    public LoraPeer.Result stepMs(String method, BertConfig c, int batch, int seq, int rank, int threads, boolean quick) {
        String label;
        try {
            label = DjlPytorch.label() + " BERT step (autograd, AdamW)";
        } catch (RuntimeException | LinkageError e) {
            return new LoraPeer.Result("pytorch (DJL)", null, "engine failed to load: " + e);
        }
        DjlPytorch.threads(threads);
        try (NDManager m = DjlPytorch.engine().newBaseManager()) {
            Bert bert = new Bert(m, c, method.equals("lora") ? rank : 0);
            NDArray ids = m.randomInteger(1000, 20000, new Shape(batch, seq), DataType.INT64);
            NDArray mask = m.ones(new Shape(batch, seq)); // no padding, as tune4j's rows
            NDArray labels = m.arange(0, batch).mod(2).toType(DataType.INT64, false).oneHot(2);
            DjlAdamW adam = new DjlAdamW(m, bert.trained);
            double ms = new Measure(2, quick ? 3 : 8, quick ? 1 : 5).medianMs(() -> {
                try (NDManager step = m.newSubManager()) {
                    try (GradientCollector gc = DjlPytorch.engine().newGradientCollector()) {
                        NDArray logp = bert.forward(ids, mask).logSoftmax(-1);
                        gc.backward(logp.mul(labels).sum().neg().div(batch));
                    }
                    adam.step(step, 1e-5f, 0.01f);
                }
            });
            return new LoraPeer.Result(label, ms, null);
        } catch (RuntimeException e) {
            return new LoraPeer.Result(label, null, e.toString());
        }
    }

    private static final class Bert {
        final BertConfig c;
        final List<NDArray> trained = new ArrayList<>();
        final NDArray word, position, type, embG, embB, headW, headB;
        final List<NDArray[]> layers = new ArrayList<>(); // q W b, k W b, v W b, o W b, ln1 g b, i W b, out W b, ln2 g b
        final List<NDArray[]> adapters = new ArrayList<>(); // A_q [d, r], B_q [r, d], A_v, B_v
        final float scale;
        final boolean lora;

        Bert(NDManager m, BertConfig c, int rank) {
            this.c = c;
            lora = rank > 0;
            scale = 2f; // alpha = 2r
            int d = c.hidden(), f = c.intermediate();
            word = w(m, c.vocabSize(), d);
            position = w(m, c.maxPositions(), d);
            type = w(m, c.typeVocabSize(), d);
            embG = w(m, d);
            embB = w(m, d);
            for (int i = 0; i < c.layers(); i++) {
                layers.add(new NDArray[] {w(m, d, d), w(m, d), w(m, d, d), w(m, d), w(m, d, d), w(m, d), w(m, d, d), w(m, d), w(m, d), w(m, d),
                        w(m, d, f), w(m, f), w(m, f, d), w(m, d), w(m, d), w(m, d)});
                if (lora) adapters.add(new NDArray[] {w(m, d, rank), m.zeros(new Shape(rank, d)), w(m, d, rank), m.zeros(new Shape(rank, d))});
            }
            headW = w(m, d, 2);
            headB = w(m, 2);
            List<NDArray> all = new ArrayList<>(List.of(word, position, type, embG, embB, headW, headB));
            layers.forEach(l -> all.addAll(List.of(l)));
            List<NDArray> train = new ArrayList<>(List.of(headW, headB));
            if (lora) {
                for (NDArray[] a : adapters) train.addAll(List.of(a));
            } else {
                train = all;
            }
            for (NDArray p : train) p.setRequiresGradient(true);
            trained.addAll(train);
        }

        private static NDArray w(NDManager m, long... shape) {
            return m.randomUniform(-0.05f, 0.05f, new Shape(shape));
        }

        private NDArray norm(NDArray x, NDArray g, NDArray b) {
            return LayerNorm.layerNorm(x, new Shape(c.hidden()), g, b, c.layerNormEps()).get(0);
        }

        private NDArray linear(NDArray x, NDArray w, NDArray b, NDArray a, NDArray bAdapter) {
            NDArray y = x.matMul(w).add(b);
            return a == null ? y : y.add(x.matMul(a).matMul(bAdapter).mul(scale));
        }

        /** ids [b, s], mask [b, s] (1 real, 0 padding) -> logits [b, 2]. */
        NDArray forward(NDArray ids, NDArray mask) {
            long b = ids.getShape().get(0), s = ids.getShape().get(1);
            int d = c.hidden(), heads = c.heads(), dh = d / heads;
            NDManager m = ids.getManager();
            NDArray positions = m.arange(0, (int) s).toType(DataType.INT64, false);
            NDArray x = word.get(ids).add(position.get(positions)).add(type.get(m.zeros(new Shape(b, s), DataType.INT64)));
            x = norm(x, embG, embB);
            NDArray additive = mask.sub(1f).mul(1e9f).reshape(b, 1, 1, s); // 0 for real keys, -1e9 for padding
            for (int i = 0; i < c.layers(); i++) {
                NDArray[] l = layers.get(i);
                NDArray[] a = lora ? adapters.get(i) : new NDArray[4];
                NDArray q = linear(x, l[0], l[1], a[0], a[1]).reshape(b, s, heads, dh).transpose(0, 2, 1, 3);
                NDArray k = linear(x, l[2], l[3], null, null).reshape(b, s, heads, dh).transpose(0, 2, 1, 3);
                NDArray v = linear(x, l[4], l[5], a[2], a[3]).reshape(b, s, heads, dh).transpose(0, 2, 1, 3);
                NDArray att = q.matMul(k.transpose(0, 1, 3, 2)).mul(1f / (float) Math.sqrt(dh)).add(additive).softmax(-1).matMul(v);
                NDArray h = norm(x.add(linear(att.transpose(0, 2, 1, 3).reshape(b, s, d), l[6], l[7], null, null)), l[8], l[9]);
                x = norm(h.add(linear(Activation.gelu(linear(h, l[10], l[11], null, null)), l[12], l[13], null, null)), l[14], l[15]);
            }
            NDArray m3 = mask.reshape(b, s, 1);
            NDArray pooled = x.mul(m3).sum(new int[] {1}).div(m3.sum(new int[] {1}));
            return pooled.matMul(headW).add(headB);
        }
    }
}
