package org.tune4j.nn;

import java.lang.foreign.Arena;
import org.tune4j.autograd.Parameter;
import org.tune4j.autograd.Tape;
import org.tune4j.autograd.Var;

/** LayerNorm over the feature dimension; weight (gamma) 1, bias (beta) 0, eps 1e-5 (PyTorch's defaults) or given (BERT: 1e-12). */
public final class LayerNorm extends Module implements Layer {
    private final Parameter gamma;
    private final Parameter beta;
    private final float eps;

    public LayerNorm(Arena arena, int dim) {
        this(arena, dim, 1e-5f);
    }

    public LayerNorm(Arena arena, int dim, float eps) {
        if (!(eps > 0f) || !Float.isFinite(eps)) throw new IllegalArgumentException("LayerNorm eps must be a finite number > 0, is " + eps);
        gamma = register("weight", new Parameter(arena, dim));
        beta = register("bias", new Parameter(arena, dim));
        Init.fill(gamma.value(), 1f);
        this.eps = eps;
    }

    @Override
    public Var forward(Tape t, Var x) {
        return t.layerNorm(x, t.param(gamma), t.param(beta), eps);
    }

    /** LayerNorm(x + residual), one op where the tape does not record ({@link Tape#addLayerNorm}). */
    public Var forward(Tape t, Var x, Var residual) {
        return t.addLayerNorm(x, residual, t.param(gamma), t.param(beta), eps);
    }
}
