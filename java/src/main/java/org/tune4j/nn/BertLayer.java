package org.tune4j.nn;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import org.tune4j.autograd.SequenceOps;
import org.tune4j.autograd.Tape;
import org.tune4j.autograd.Var;
import org.tune4j.backend.Activation;
import org.tune4j.tensor.Tensor;

/**
 * One post-LayerNorm BERT block (Devlin et al. 2019), with Hugging Face's module names:
 * h = LN(x + attention.output.dense(attn(attention.self.query(x), .key(x), .value(x)))) ("attention.output.LayerNorm"),
 * y = LN(h + output.dense(GELU(intermediate.dense(h)))) ("output.LayerNorm"). Every projection is a child
 * looked up by name at each call, so LoRA (PEFT's target_modules "query", "value", "dense" ...) or int8 swaps it.
 */
final class BertLayer extends Module {
    private final Module self, attentionOutput, intermediate, output;
    private final int heads;
    private final boolean exactGelu;

    BertLayer(Arena arena, BertConfig c, SplittableRandom rng) {
        heads = c.heads();
        exactGelu = BertConfig.exactGelu(c.hiddenAct());
        int d = c.hidden();
        Module attention = register("attention", new Module() {});
        self = attention.register("self", new Module() {});
        self.register("query", new Linear(arena, d, d, true, rng));
        self.register("key", new Linear(arena, d, d, true, rng));
        self.register("value", new Linear(arena, d, d, true, rng));
        attentionOutput = attention.register("output", new Module() {});
        attentionOutput.register("dense", new Linear(arena, d, d, true, rng));
        attentionOutput.register("LayerNorm", new LayerNorm(arena, d, c.layerNormEps()));
        intermediate = register("intermediate", new Module() {});
        intermediate.register("dense", new Linear(arena, d, c.intermediate(), true, rng));
        output = register("output", new Module() {});
        output.register("dense", new Linear(arena, c.intermediate(), d, true, rng));
        output.register("LayerNorm", new LayerNorm(arena, d, c.layerNormEps()));
    }

    /**
     * x [batch·seq, hidden] → [batch·seq, hidden]; lengths [batch] (I32) masks the padded keys; routing (or null)
     * says which adapter each sequence takes where the projections are {@link MultiLoraLinear}s.
     */
    Var forward(Tape t, Var x, int batch, Tensor lengths, AdapterRouting routing) {
        Var[] qkv = CompressedLinear.forwardShared(t, x, self.layer("query"), self.layer("key"), self.layer("value")); // int8: x quantized once
        if (qkv == null) qkv = new Var[] {project(t, self, "query", x, routing), project(t, self, "key", x, routing), project(t, self, "value", x, routing)};
        Var context = SequenceOps.attention(t, qkv[0], qkv[1], qkv[2], batch, heads, lengths);
        Var h = addNorm(t, attentionOutput.layer("LayerNorm"), project(t, attentionOutput, "dense", context, routing), x);
        Var inner = intermediate(t, h, routing);
        return addNorm(t, output.layer("LayerNorm"), project(t, output, "dense", inner, routing), h);
    }

    /**
     * GELU(intermediate.dense(h)): through the layer's activation, which an int8 or sparse layer applies to its output
     * as it writes it when the tape does not record (Layer#forward(Tape, Var, Activation)); an f32 layer as t.gelu.
     */
    private Var intermediate(Tape t, Var h, AdapterRouting routing) {
        Layer dense = intermediate.layer("dense");
        if (dense instanceof MultiLoraLinear m) return t.gelu(m.forward(t, h, routing), exactGelu);
        return dense.forward(t, h, exactGelu ? Activation.GELU_ERF : Activation.GELU);
    }

    /** norm(y + residual): one op for a LayerNorm (the sum and the normalization in one pass a row at inference). */
    private static Var addNorm(Tape t, Layer norm, Var y, Var residual) {
        return norm instanceof LayerNorm ln ? ln.forward(t, y, residual) : norm.forward(t, t.add(y, residual));
    }

    private static Var project(Tape t, Module parent, String name, Var x, AdapterRouting routing) {
        Layer l = parent.layer(name);
        return l instanceof MultiLoraLinear m ? m.forward(t, x, routing) : l.forward(t, x);
    }
}
