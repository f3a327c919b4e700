package org.tune4j.bench.peers;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.norm.LayerNorm;
import ai.djl.training.GradientCollector;
import java.util.ArrayList;
import java.util.List;
import org.tune4j.bench.Measure;
import org.tune4j.nn.VisionTransformer;

/**
 * The main job's ViT training step in PyTorch through DJL (offline): tune4j's ViT written with PyTorch's
 * ops (patch embedding, class token, learned positions, pre-norm blocks of multi-head attention and a
 * GELU MLP, LayerNorm eps 1e-5), cross-entropy, autograd, and PyTorch's native Adam update in its AdamW
 * form, one call per trained tensor. "lora" freezes every weight and trains A and B on each qkv, proj,
 * fc1 and fc2, as PEFT's lora.Linear computes it: y = x Wᵀ + b + s (x Aᵀ) Bᵀ. Weights are kept as
 * [in, out] so that no transpose is made per step; each step's arrays live in a sub-manager closed after it.
 */
public final class DjlVitStep implements TrainPeer {
    @Override
    public String name() {
        return DjlPytorch.label();
    }

    @Override
    public PeerResult stepMs(String method, VisionTransformer.Config c, int batch, int rank, int threads, boolean quick, Runnable ours) {
        String label;
        try {
            label = DjlPytorch.label() + " ViT step (autograd, AdamW)";
        } catch (RuntimeException | LinkageError e) {
            return PeerResult.failed("pytorch (DJL)", "engine failed to load: " + e);
        }
        DjlPytorch.threads(threads);
        try (NDManager m = DjlPytorch.engine().newBaseManager()) {
            Vit vit = new Vit(m, c, method.equals("lora") ? rank : 0);
            NDArray images = m.randomUniform(0f, 1f, new Shape(batch, (long) c.image() * c.image()));
            // image i is of class i mod classes, one-hot [batch, classes]
            NDArray labels = m.arange(0, batch).mod(c.classes()).toType(ai.djl.ndarray.types.DataType.INT64, false).oneHot(c.classes());
            DjlAdamW adam = new DjlAdamW(m, vit.trained);
            Runnable trainStep = () -> {
                // every array the step makes is closed when it ends (NDScope; the BERT step's peer leaked without it)
                try (NDManager step = m.newSubManager(); NDScope scope = new NDScope()) {
                    NDArray x = images.duplicate();
                    x.attach(step);
                    try (GradientCollector gc = DjlPytorch.engine().newGradientCollector()) {
                        NDArray logp = vit.forward(x).logSoftmax(-1);
                        gc.backward(logp.mul(labels).sum().neg().div(batch));
                    }
                    adam.step(step, 1e-4f, 0.01f);
                }
            };
            Measure.Blocks blocks = Measure.alternatedSteps(quick, trainStep, ours);
            return PeerResult.of(label, blocks);
        } catch (RuntimeException e) {
            return PeerResult.failed(label, e.toString());
        }
    }

    /** The ViT's parameters; {@code trained} the ones the step updates. */
    private static final class Vit {
        final VisionTransformer.Config c;
        final List<NDArray> trained = new ArrayList<>();
        final NDArray patchW, patchB, cls, pos, normG, normB, headW, headB;
        final List<NDArray[]> blocks = new ArrayList<>(); // ln1 g, b, qkv W, b, proj W, b, ln2 g, b, fc1 W, b, fc2 W, b
        final List<NDArray[]> adapters = new ArrayList<>(); // per block, A then B for qkv, proj, fc1, fc2 ([in, r], [r, out])
        final float scale;
        final boolean lora;

        Vit(NDManager m, VisionTransformer.Config c, int rank) {
            this.c = c;
            lora = rank > 0;
            scale = lora ? 2f : 0f; // alpha = 2r
            int d = c.dim(), hidden = c.mlpHidden(), pp = c.patch() * c.patch();
            patchW = weight(m, pp, d);
            patchB = weight(m, d);
            cls = weight(m, 1, 1, d);
            pos = weight(m, 1, c.patches() + 1, d);
            for (int i = 0; i < c.depth(); i++) {
                blocks.add(new NDArray[] {weight(m, d), weight(m, d), weight(m, d, 3 * d), weight(m, 3 * d), weight(m, d, d), weight(m, d),
                        weight(m, d), weight(m, d), weight(m, d, hidden), weight(m, hidden), weight(m, hidden, d), weight(m, d)});
                if (lora) {
                    int[][] inOut = {{d, 3 * d}, {d, d}, {d, hidden}, {hidden, d}};
                    NDArray[] ab = new NDArray[8];
                    for (int j = 0; j < 4; j++) {
                        ab[2 * j] = weight(m, inOut[j][0], rank);
                        ab[2 * j + 1] = m.zeros(new Shape(rank, inOut[j][1]));
                    }
                    adapters.add(ab);
                }
            }
            normG = weight(m, d);
            normB = weight(m, d);
            headW = weight(m, d, c.classes());
            headB = weight(m, c.classes());
            List<NDArray> all = new ArrayList<>(List.of(patchW, patchB, cls, pos, normG, normB, headW, headB));
            blocks.forEach(b -> all.addAll(List.of(b)));
            List<NDArray> train = lora ? adapters.stream().flatMap(a -> java.util.Arrays.stream(a)).toList() : all;
            for (NDArray p : train) p.setRequiresGradient(true);
            trained.addAll(train);
        }

        private static NDArray weight(NDManager m, long... shape) {
            return m.randomUniform(-0.05f, 0.05f, new Shape(shape));
        }

        /** x [.., in] W [in, out] + b, plus s (x A) B with the adapter's A [in, r] and B [r, out] when given. */
        private NDArray linear(NDArray x, NDArray w, NDArray b, NDArray a, NDArray bAdapter) {
            NDArray y = x.matMul(w).add(b);
            return a == null ? y : y.add(x.matMul(a).matMul(bAdapter).mul(scale));
        }

        private static NDArray norm(NDArray x, NDArray g, NDArray b) {
            return LayerNorm.layerNorm(x, new Shape(x.getShape().get(x.getShape().dimension() - 1)), g, b, 1e-5f).get(0); // (output, mean, rstd)
        }

        /** images [b, image²] -> logits [b, classes]. */
        NDArray forward(NDArray images) {
            long b = images.getShape().get(0);
            int p = c.patch(), g = c.image() / p, d = c.dim(), heads = c.heads(), dh = d / heads;
            long s = c.patches() + 1L;
            NDArray patches = images.reshape(b, g, p, g, p).transpose(0, 1, 3, 2, 4).reshape(b, (long) g * g, (long) p * p);
            NDArray tokens = patches.matMul(patchW).add(patchB);
            NDArray x = NDArrays.concat(new NDList(tokens.getManager().zeros(new Shape(b, 1, d)).add(cls), tokens), 1).add(pos);
            for (int i = 0; i < c.depth(); i++) {
                NDArray[] w = blocks.get(i);
                NDArray[] a = lora ? adapters.get(i) : new NDArray[8];
                NDArray qkv = linear(norm(x, w[0], w[1]), w[2], w[3], a[0], a[1]).reshape(b, s, 3, heads, dh).transpose(2, 0, 3, 1, 4);
                NDArray q = qkv.get(0), k = qkv.get(1), v = qkv.get(2); // [b, heads, s, dh]
                NDArray attention = q.matMul(k.transpose(0, 1, 3, 2)).mul(1f / (float) Math.sqrt(dh)).softmax(-1).matMul(v);
                x = x.add(linear(attention.transpose(0, 2, 1, 3).reshape(b, s, d), w[4], w[5], a[2], a[3]));
                NDArray hidden = Activation.gelu(linear(norm(x, w[6], w[7]), w[8], w[9], a[4], a[5]));
                x = x.add(linear(hidden, w[10], w[11], a[6], a[7]));
            }
            NDArray first = norm(x, normG, normB).get(":, 0, :");
            return first.matMul(headW).add(headB);
        }
    }
}
