package org.tune4j.nn;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import org.tune4j.autograd.Parameter;
import org.tune4j.autograd.Tape;
import org.tune4j.autograd.Var;
import org.tune4j.backend.Activation;
import org.tune4j.backend.Backend;
import org.tune4j.tensor.Tensor;

/** y = x Wᵀ + b; W [out, in] and b [out] initialised as PyTorch's nn.Linear, U(±1/√in). */
public final class Linear extends Module implements Layer, InferenceLayer {
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

    @Override
    public int scratchColumns() {
        return 0;
    }

    @Override
    public void infer(Backend backend, Tensor x, Tensor y, Activation act, Tensor scratch) {
        backend.linear(x, weight.value(), bias == null ? null : bias.value(), y);
        InferenceLayer.activate(backend, y, act);
    }

    @Override
    public int in() {
        return (int) weight.value().dim(1);
    }

    @Override
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
