package org.tune4j.bench.peers;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import org.tune4j.bench.Measure;
import org.tune4j.nn.BertConfig;

/**
 * A BERT classifier's training step in PyTorch through DJL (offline), written with PyTorch's ops the way
 * Hugging Face's BertModel computes it: word, position and token-type embeddings, LayerNorm (eps from the
 * config), post-LN blocks of multi-head attention with the additive mask and an erf-GELU FFN, mean pooling
 * over the mask, a linear head, cross-entropy, autograd, PyTorch's native Adam kernel in its AdamW form.
 * "lora" trains PEFT's lora.Linear on query and value (y = x Wᵀ + b + s (x Aᵀ) Bᵀ) and the head, the rest
 * frozen ({@link DjlBert}); random values (speed does not depend on them).
 */
public final class DjlBertStep implements BertStepPeer {
    @Override
    public String name() {
        return DjlPytorch.label();
    }

    @Override
    public PeerResult stepMs(String method, BertConfig c, int batch, int seq, int rank, int threads, boolean quick, Runnable ours) {
        String label;
        try {
            label = DjlPytorch.label() + " BERT step (autograd, AdamW)";
        } catch (RuntimeException | LinkageError e) {
            return PeerResult.failed("pytorch (DJL)", "engine failed to load: " + e);
        }
        DjlPytorch.threads(threads);
        try (NDManager m = DjlPytorch.engine().newBaseManager()) {
            DjlBert bert = DjlBert.random(m, c, method.equals("lora") ? rank : 0);
            NDArray ids = m.randomInteger(1000, 20000, new Shape(batch, seq), DataType.INT64);
            NDArray mask = m.ones(new Shape(batch, seq)); // no padding, as tune4j's rows
            NDArray labels = m.arange(0, batch).mod(2).toType(DataType.INT64, false).oneHot(2);
            DjlAdamW adam = new DjlAdamW(m, bert.trained);
            Measure.Blocks blocks = Measure.alternatedSteps(quick, () -> {
                // every array the step makes is closed when it ends (NDScope): an op's result belongs to its first
                // operand's manager, here often a weight's, so without the scope each step's activations stayed alive and
                // the process grew by them every step: the step took 1.2 s at first and 4-6 s a few steps later
                try (NDManager step = m.newSubManager(); NDScope scope = new NDScope()) {
                    try (GradientCollector gc = DjlPytorch.engine().newGradientCollector()) {
                        NDArray logp = bert.forward(ids, mask).logSoftmax(-1);
                        gc.backward(logp.mul(labels).sum().neg().div(batch));
                    }
                    adam.step(step, 1e-5f, 0.01f);
                }
            }, ours);
            return PeerResult.of(label, blocks);
        } catch (RuntimeException e) {
            return PeerResult.failed(label, e.toString());
        }
    }
}
