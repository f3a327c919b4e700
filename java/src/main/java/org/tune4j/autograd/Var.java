package org.tune4j.autograd;

import org.tune4j.tensor.Tensor;

/**
 * A value recorded on a {@link Tape}: its tensor, and its gradient when the graph needs one. Parameters
 * bring their own (persistent) gradient; other values get one from the tape, zeroed, on first use.
 */
public final class Var {
    final Tensor value;
    final boolean requiresGrad;
    Tensor grad;
    /**
     * Whether grad is another value's gradient, shared rather than copied (an add's operand takes its output's: {@link
     * Tape#accumulateGrad}); the tape copies it before anything adds into it, so a shared one is never written.
     */
    boolean gradShared;

    Var(Tensor value, boolean requiresGrad, Tensor grad) {
        this.value = value;
        this.requiresGrad = requiresGrad;
        this.grad = grad;
    }

    public Tensor value() {
        return value;
    }

    /** The gradient after {@link Tape#backward}, or null when none was needed or reached this value. */
    public Tensor grad() {
        return grad;
    }

    public boolean requiresGrad() {
        return requiresGrad;
    }
}
