package org.tune4j.nn;

import java.lang.foreign.Arena;
import org.tune4j.autograd.Parameter;
import org.tune4j.autograd.Tape;
import org.tune4j.autograd.Var;

/** LayerNorm over the feature dimension; weight (gamma) 1, bias (beta) 0, eps 1e-5 (PyTorch's defaults). */
public final class LayerNorm extends Module implements Layer {
    private final Parameter gamma;
    private final Parameter beta;

    public LayerNorm(Arena arena, int dim) {
        gamma = register("weight", new Parameter(arena, dim));
        beta = register("bias", new Parameter(arena, dim));
        Init.fill(gamma.value(), 1f);
    }

    @Override
    public Var forward(Tape t, Var x) {
        return t.layerNorm(x, t.param(gamma), t.param(beta), 1e-5f);
    }
}
