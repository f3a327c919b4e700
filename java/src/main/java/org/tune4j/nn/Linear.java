package org.tune4j.nn;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import org.tune4j.autograd.Parameter;
import org.tune4j.autograd.Tape;
import org.tune4j.autograd.Var;

/** y = x Wᵀ + b; W [out, in] and b [out] initialised as PyTorch's nn.Linear, U(±1/√in). */
public final class Linear extends Module implements Layer {
    final Parameter weight;
    final Parameter bias;

    public Linear(Arena arena, int in, int out, boolean withBias, SplittableRandom rng) {
        weight = register("weight", new Parameter(arena, out, in));
        Init.uniform(weight.value(), 1 / Math.sqrt(in), rng);
        bias = withBias ? register("bias", new Parameter(arena, out)) : null;
        if (bias != null) Init.uniform(bias.value(), 1 / Math.sqrt(in), rng);
    }

    @Override
    public Var forward(Tape t, Var x) {
        return t.linear(x, t.param(weight), bias == null ? null : t.param(bias));
    }

    public int in() {
        return (int) weight.value().dim(1);
    }

    public int out() {
        return (int) weight.value().dim(0);
    }

    public Parameter weight() {
        return weight;
    }

    public Parameter bias() {
        return bias;
    }
}
