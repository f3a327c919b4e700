package org.tune4j.autograd;

import org.tune4j.backend.Backend;
import org.tune4j.backend.PackedLinearWeights;
import org.tune4j.tensor.Tensor;

/** LoRA's op on a {@link Tape} ({@link Tape#lora}), forward and backward side by side, in a file of its own as {@link DoraOp}. */
final class LoraOp {
    private LoraOp() {}

    /**
     * y [t, out] = x Wᵀ + b + scale·(x̃ Aᵀ) Bᵀ, x̃ = x ⊙ mask (null: no dropout), W [out, in] frozen, a [r, in],
     * bb [out, r]; h = x̃ Aᵀ [t, r] kept for the backward. With W packed together with Wᵀ ({@code packed}, from
     * {@link Tape#packedWeights}; else null) the base products, x Wᵀ and dx's g W, run on the packings.
     */
    static Var lora(Tape tape, Var x, Var w, Var b, Var a, Var bb, float scale, Tensor mask, PackedLinearWeights packed) {
        Backend backend = tape.backend();
        long t = x.value.dim(0), r = a.value.dim(0);
        Tensor h = tape.empty(t, r), y = tape.empty(t, w.value.dim(0)), bias = b == null ? null : b.value;
        if (packed != null) backend.loraForwardPacked(x.value, mask, packed, bias, a.value, bb.value, scale, h, y);
        else backend.loraForward(x.value, mask, w.value, bias, a.value, bb.value, scale, h, y);
        Var out = tape.result(y, x, a, bb, b);
        tape.record(out, () -> {
            Tensor gy = out.grad;
            if (gy == null) return;
            Tensor da = tape.needs(a) ? tape.gradOf(a) : tape.zeros(a.value.shape()), db = tape.needs(bb) ? tape.gradOf(bb) : tape.zeros(bb.value.shape());
            if (packed != null && tape.needs(x)) { // dx written into a tensor of its own, then handed to x (as the tape's linear does)
                Tensor dx = tape.empty(t, x.value.dim(1));
                backend.loraBackwardPacked(x.value, mask, packed, a.value, bb.value, scale, h, gy, dx, false, da, db);
                tape.accumulateGrad(x, dx);
            } else {
                backend.loraBackward(x.value, mask, w.value, a.value, bb.value, scale, h, gy, tape.needs(x) ? tape.gradOf(x) : null, da, db);
            }
            if (tape.needs(b)) backend.sumRows(gy, tape.gradOf(b));
        });
        return out;
    }
}
