package org.tune4j.autograd;

import java.lang.foreign.Arena;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * A trainable tensor and its gradient, both in a long-lived arena (the model's) and in one memory (the
 * host's, or a device's after {@link #moveTo}). {@code trainable = false} freezes it: the tape computes no
 * gradient for it and optimizers skip it.
 */
public final class Parameter {
    private Arena arena;
    private Tensor value;
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
        if (grad == null) grad = value.memory().zeros(arena, DType.F32, value.shape());
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
        if (grad != null) grad.zero();
    }

    /**
     * Moves the value into {@code memory} (a device's, or back to the host), in {@code arena}, which must outlive
     * the parameter's use there; the gradient is dropped (made again, there, on first use). Optimizer state
     * made for the old value must be made again.
     */
    public void moveTo(org.tune4j.tensor.Memory memory, Arena arena) {
        if (value.memory() == memory) return;
        value = value.copy(arena, memory);
        this.arena = arena;
        grad = null;
    }

    public long numel() {
        return value.numel();
    }
}
