package org.tune4j.nn;

import org.tune4j.autograd.Tape;
import org.tune4j.autograd.Var;
import org.tune4j.tensor.Tensor;

/** An image classifier: images [batch, pixels] (f32 in [0, 1]) → logits [batch, classes]. */
public interface Classifier {
    Var logits(Tape t, Tensor images, boolean inputGrad);

    /** The module tree, for parameters, freezing and LoRA injection. */
    Module module();
}
