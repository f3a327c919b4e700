package org.tune4j.backend;

import java.util.Arrays;
import java.util.List;
import java.util.function.DoubleSupplier;
import org.tune4j.tensor.Tensor;

/**
 * One op of the op table ({@link OpTable}), in the manner of ggml's test-backend-ops: a body that draws its
 * inputs and runs the op on whatever backend it is given (BackendOpsTest compares every backend's outputs with
 * the reference's, shape by shape), a malformed call every backend must refuse, and for an op with a
 * backward, its gradient against finite differences of its forward on the reference.
 *
 * @param name the op's name, as in C (t4j_*), the bindings and Backend
 * @param shapes the sizes the body is run at (odd ones: 1, a vector and a tail, past a kernel's tile)
 * @param hostOnDevices a device backend has no kernel for it and runs it on the host, counted (HostFallbackBackend):
 *     the suite asserts that it falls back there, and that no other op does
 */
record Op(String name, long[][] shapes, Body body, Bad bad, Gradient gradient, boolean hostOnDevices) {
    /** Runs the op on backend be at sizes s, its inputs from in, its outputs into out. */
    interface Body {
        void run(Backend be, OpInputs in, OpOutputs out, long[] s);
    }

    /** A call that backend be must refuse with an IllegalArgumentException (wrong shapes, dtypes, a missing tensor). */
    interface Bad {
        void run(Backend be, OpInputs in);
    }

    /** The reference's backward and forward on small inputs (host memory): what {@link GradientCheck} compares. */
    interface Gradient {
        List<GradientCheck> build(ReferenceBackend ref, OpInputs in);
    }

    /**
     * dL/dθ for a scalar L the forward computes: {@code analytic} as the backward accumulated it (into zeros),
     * against central differences of {@code loss} perturbing {@code theta}.
     */
    record GradientCheck(String what, Tensor theta, Tensor analytic, DoubleSupplier loss) {}

    static Op of(String name, long[][] shapes, Body body) {
        return new Op(name, shapes, body, null, null, false);
    }

    Op refusing(Bad call) {
        return new Op(name, shapes, body, call, gradient, hostOnDevices);
    }

    Op withGradient(Gradient check) {
        return new Op(name, shapes, body, bad, check, hostOnDevices);
    }

    Op onDevicesRunsOnTheHost() {
        return new Op(name, shapes, body, bad, gradient, true);
    }

    static String shape(long[] s) {
        return Arrays.toString(s).replace(" ", "");
    }

    @Override
    public String toString() {
        return name;
    }

    /** L = Σ y ⊙ g in double: the loss whose gradient with respect to y is g. */
    static double dot(Tensor y, Tensor g) {
        double s = 0;
        for (long i = 0; i < y.numel(); i++) s += (double) y.getFloat(i) * g.getFloat(i);
        return s;
    }
}
