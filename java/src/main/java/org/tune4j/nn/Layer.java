package org.tune4j.nn;

import org.tune4j.autograd.Tape;
import org.tune4j.autograd.Var;
import org.tune4j.backend.Activation;

/** A module applied to one input: Linear, LoraLinear, MLP ... */
public interface Layer {
    Var forward(Tape t, Var x);

    /**
     * act(forward(x)), act NONE, GELU or GELU_ERF ({@link Tape#gelu(Var, boolean)}). A layer whose kernel applies act in
     * its epilogue (a compressed one) overrides this to do so on a tape that does not record: no backward needs the
     * values before the activation then, and the separate pass over the output is saved.
     */
    default Var forward(Tape t, Var x, Activation act) {
        return switch (act) {
            case NONE -> forward(t, x);
            case GELU -> t.gelu(forward(t, x));
            case GELU_ERF -> t.gelu(forward(t, x), true);
            case RELU -> throw new IllegalArgumentException("a tape layer applies NONE, GELU or GELU_ERF, not RELU");
        };
    }
}
