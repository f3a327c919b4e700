package org.tune4j.nn;

import java.lang.foreign.Arena;
import org.tune4j.autograd.Parameter;
import org.tune4j.autograd.Tape;
import org.tune4j.autograd.Var;
import org.tune4j.backend.Activation;
import org.tune4j.backend.Backend;
import org.tune4j.backend.PackedLinearWeights;
import org.tune4j.tensor.Tensor;

/**
 * A frozen {@link Linear} made ready for inference: y = x Wᵀ + b on W packed once for the CPU GEMM
 * ({@link PackedLinearWeights}; ARCHITECTURE.md, "GEMM": packed weights), the same bits as the Linear for more than 16 rows and outputs.
 * It keeps the Linear's parameters, frozen, under the same names (a checkpoint saved from the model is unchanged),
 * and gives input gradients (attacks) through them; it gives them no gradient, so training cannot make the packed
 * copy stale (writing into the weight's values directly would).
 */
public final class PackedLinear extends Module implements Layer, InferenceLayer {
    private final Parameter weight;
    private final Parameter bias;
    private final PackedLinearWeights packed;

    private PackedLinear(Parameter weight, Parameter bias, PackedLinearWeights packed) {
        this.weight = register("weight", weight);
        this.bias = bias == null ? null : register("bias", bias);
        this.packed = packed;
    }

    /** Freezes {@code linear}'s parameters and packs its weight into {@code arena}. */
    public static PackedLinear of(Arena arena, Linear linear) {
        PackedLinearWeights packed = PackedLinearWeights.pack(arena, linear.weight().value());
        linear.weight().setTrainable(false);
        if (linear.bias() != null) linear.bias().setTrainable(false);
        return new PackedLinear(linear.weight(), linear.bias(), packed);
    }

    @Override
    public Var forward(Tape t, Var x) {
        return t.frozenLinear(x, out(), packed.weight(), (xv, y) -> t.backend().linearPacked(xv, packed, biasValue(), y));
    }

    @Override
    public int scratchColumns() {
        return 0;
    }

    @Override
    public void infer(Backend backend, Tensor x, Tensor y, Activation act, Tensor scratch) {
        backend.linearPacked(x, packed, biasValue(), y);
        InferenceLayer.activate(backend, y, act);
    }

    @Override
    public int in() {
        return (int) packed.columns();
    }

    @Override
    public int out() {
        return (int) packed.rows();
    }

    public PackedLinearWeights packed() {
        return packed;
    }

    /** The bias [out], or null. */
    public Tensor biasValue() {
        return bias == null ? null : bias.value();
    }
}
