package org.tune4j.nn;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import org.tune4j.autograd.Parameter;
import org.tune4j.autograd.Tape;
import org.tune4j.autograd.Var;
import org.tune4j.backend.Activation;
import org.tune4j.backend.Backend;
import org.tune4j.tensor.Tensor;

/**
 * A frozen Linear with a LoRA adapter (PEFT semantics): y = x Wᵀ + b + s·(dropout(x) Aᵀ) Bᵀ, s = alpha/r
 * (alpha/√r with rsLoRA); A [r, in] ~ U(±1/√in) as PEFT's Kaiming init, B [out, r] = 0, so the layer
 * starts exactly as the base. Parameters: "lora_A", "lora_B", and the base's "base.weight", "base.bias".
 */
public final class LoraLinear extends Module implements Layer, InferenceLayer {
    private final Linear base;
    private final Parameter a;
    private final Parameter b;
    private final float scale;
    private final float dropout;
    private final SplittableRandom dropoutRng;
    private boolean merged;

    public LoraLinear(Arena arena, Linear base, int r, float alpha, float dropout, boolean rsLora, SplittableRandom rng) {
        if (r < 1) throw new IllegalArgumentException("rank r must be >= 1, is " + r);
        if (!(dropout >= 0 && dropout < 1)) throw new IllegalArgumentException("dropout must be in [0, 1), is " + dropout);
        this.base = register("base", base);
        base.setTrainable(false);
        this.a = register("lora_A", new Parameter(arena, r, base.in()));
        this.b = register("lora_B", new Parameter(arena, base.out(), r));
        Init.uniform(a.value(), 1 / Math.sqrt(base.in()), rng);
        this.scale = (float) (rsLora ? alpha / Math.sqrt(r) : alpha / r);
        this.dropout = dropout;
        this.dropoutRng = rng.split();
    }

    @Override
    public Var forward(Tape t, Var x) {
        if (merged) return base.forward(t, x);
        var mask = training() ? t.dropoutMask(x.value().dim(0), x.value().dim(1), dropout, dropoutRng) : null;
        return t.lora(x, t.param(base.weight), base.bias == null ? null : t.param(base.bias), t.param(a), t.param(b), scale, mask);
    }

    @Override
    public int in() {
        return base.in();
    }

    @Override
    public int out() {
        return base.out();
    }

    @Override
    public int scratchColumns() {
        return merged ? 0 : (int) a.value().dim(0);
    }

    /** The adapter unmerged: y = x Wᵀ + b + s·(x Aᵀ) Bᵀ in one fused call (no dropout at inference). */
    @Override
    public void infer(Backend backend, Tensor x, Tensor y, Activation act, Tensor scratch) {
        if (merged) {
            base.infer(backend, x, y, act, scratch);
            return;
        }
        backend.loraForward(x, null, base.weight.value(), base.bias == null ? null : base.bias.value(), a.value(), b.value(), scale, scratch, y);
        InferenceLayer.activate(backend, y, act);
    }

    public boolean merged() {
        return merged;
    }

    /** W += s·B A: the adapter folded into the base (for inference at base speed). */
    public void merge(Backend backend) {
        if (merged) return;
        backend.loraMerge(base.weight.value(), a.value(), b.value(), scale, 1f);
        merged = true;
    }

    /** W −= s·B A: the base as it was. */
    public void unmerge(Backend backend) {
        if (!merged) return;
        backend.loraMerge(base.weight.value(), a.value(), b.value(), scale, -1f);
        merged = false;
    }

    public Parameter loraA() {
        return a;
    }

    public Parameter loraB() {
        return b;
    }

    public Linear base() {
        return base;
    }

    /** The adapter's input dropout probability (training only). */
    public float dropout() {
        return dropout;
    }

    public float scale() {
        return scale;
    }
}
