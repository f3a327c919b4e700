package org.tune4j.nn;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import org.tune4j.autograd.Parameter;
import org.tune4j.autograd.SequenceOps;
import org.tune4j.autograd.Tape;
import org.tune4j.autograd.Var;
import org.tune4j.tensor.Tensor;

/** A lookup table, weight [rows, dim] ~ N(0, 0.02²) (BERT's initialiser): ids [n] (I32) → [n, dim]. */
public final class Embedding extends Module {
    private final Parameter weight;

    public Embedding(Arena arena, int rows, int dim, SplittableRandom rng) {
        weight = register("weight", new Parameter(arena, rows, dim));
        Init.normal(weight.value(), 0.02, rng);
    }

    public Var forward(Tape t, Tensor ids) {
        return SequenceOps.embedding(t, t.param(weight), ids);
    }

    public Parameter weight() {
        return weight;
    }
}
