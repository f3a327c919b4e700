package org.tune4j.autograd;

import java.lang.foreign.Arena;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * A trainable tensor and its gradient, both in a long-lived arena (the model's). {@code trainable =
 * false} freezes it: the tape computes no gradient for it and optimizers skip it.
 */
public final class Parameter {
    private final Arena arena;
    private final Tensor value;
    private Tensor grad; // made on first use: a frozen parameter never needs one
    private boolean trainable = true;

    public Parameter(Arena arena, long... shape) {
        this.arena = arena;
        this.value = Tensor.zeros(arena, DType.F32, shape);
    }

    public Tensor value() {
        return value;
    }

    /** The accumulated gradient (zeroed by the optimizer after each step), made zero on first use. */
    public Tensor grad() {
        if (grad == null) grad = Tensor.zeros(arena, DType.F32, value.shape());
        return grad;
    }

    /** Whether a gradient has been made (memory accounting). */
    public boolean hasGrad() {
        return grad != null;
    }

    public boolean trainable() {
        return trainable;
    }

    public void setTrainable(boolean trainable) {
        this.trainable = trainable;
    }

    /** Sets the gradient to zero. */
    public void zeroGrad() {
        if (grad != null) grad.segment().fill((byte) 0);
    }

    public long numel() {
        return value.numel();
    }
}
