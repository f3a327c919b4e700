package org.tune4j.nn;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import org.tune4j.autograd.Tape;
import org.tune4j.autograd.Var;
import org.tune4j.backend.Activation;

/** fc2(GELU(fc1(x))): the transformer's feed-forward block, or a classifier's hidden layer. */
public final class Mlp extends Module implements Layer {
    private Layer fc1;
    private Layer fc2;

    public Mlp(Arena arena, int in, int hidden, int out, SplittableRandom rng) {
        fc1 = register("fc1", new Linear(arena, in, hidden, true, rng));
        fc2 = register("fc2", new Linear(arena, hidden, out, true, rng));
    }

    @Override
    public Var forward(Tape t, Var x) {
        return fc2.forward(t, fc1.forward(t, x, Activation.GELU));
    }

    @Override
    protected void onChildReplaced(String name, Module child) {
        if (name.equals("fc1")) fc1 = (Layer) child;
        else fc2 = (Layer) child;
    }
}
