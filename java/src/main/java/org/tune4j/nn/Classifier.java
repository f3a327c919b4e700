package org.tune4j.nn;

import org.tune4j.autograd.Tape;
import org.tune4j.autograd.Var;
import org.tune4j.tensor.Tensor;

/** An image classifier: images [batch, pixels] (f32 in [0, 1]) → logits [batch, classes]. */
public interface Classifier {
    /** Logits for images already on the tape (their gradient, when asked for, is {@code images.grad()} after backward). */
    Var logits(Tape t, Var images);

    /** Logits for images [batch, pixels]; {@code inputGrad} asks for the gradient with respect to them. */
    default Var logits(Tape t, Tensor images, boolean inputGrad) {
        return logits(t, t.input(images, inputGrad));
    }

    /** The module tree, for parameters, freezing and LoRA injection. */
    Module module();
}
