package org.tune4j.nn;

import org.tune4j.autograd.Tape;
import org.tune4j.autograd.Var;

/** A module applied to one input: Linear, LoraLinear, MLP ... */
public interface Layer {
    Var forward(Tape t, Var x);
}
