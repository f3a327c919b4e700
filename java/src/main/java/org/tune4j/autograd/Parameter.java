package org.tune4j.autograd;

import java.lang.foreign.Arena;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * A trainable tensor and its gradient, both in a long-lived arena (the model's). {@code trainable =
 * false} freezes it: the tape computes no gradient for it and optimizers skip it.
 */
public final class Parameter {
    private final Tensor value;
    private final Tensor grad;
    private boolean trainable = true;

    public Parameter(Arena arena, long... shape) {
        this.value = Tensor.zeros(arena, DType.F32, shape);
        this.grad = Tensor.zeros(arena, DType.F32, shape);
    }

    public Tensor value() {
        return value;
    }

    /** The accumulated gradient (zeroed by the optimizer after each step). */
    public Tensor grad() {
        return grad;
    }

    public boolean trainable() {
        return trainable;
    }

    public void setTrainable(boolean trainable) {
        this.trainable = trainable;
    }

    /** Sets the gradient to zero. */
    public void zeroGrad() {
        grad.segment().fill((byte) 0);
    }

    public long numel() {
        return value.numel();
    }
}
