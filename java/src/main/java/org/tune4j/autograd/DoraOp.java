package org.tune4j.autograd;

import org.tune4j.backend.Backend;
import org.tune4j.tensor.Tensor;

/** DoRA's op on a {@link Tape}, forward and backward side by side (as the tape's own ops, in a file of its own). */
public final class DoraOp {
    private DoraOp() {}

    /**
     * DoRA (Liu et al. 2024, eq. 5; PEFT's {@code use_dora}): y = (m / ‖V‖) ⊙ (x̃-LoRA of x) + b, where
     * V = W + scale·B A is the adapted weight [out, in], ‖V‖ [out] the norm of each of its rows and
     * m [out] the trained magnitude; x Vᵀ is formed as LoRA forms it (x Wᵀ + scale·(x̃ Aᵀ) Bᵀ). As in the
     * paper's §4.3 and PEFT, ‖V‖ is a constant in the backward: dm = Σ_t g ⊙ (x Vᵀ) / ‖V‖, and x, A, B get
     * LoRA's gradients of g ⊙ m / ‖V‖. A zero row of V gives a zero output row, not NaN.
     */
    public static Var dora(Tape tape, Var x, Var w, Var b, Var a, Var bb, Var m, float scale, Tensor mask) {
        Backend backend = tape.backend();
        long t = x.value.dim(0), out = w.value.dim(0), r = a.value.dim(0);
        if (m.value.numel() != out) throw new IllegalArgumentException("magnitude has " + m.value.numel() + " values for " + out + " output rows");
        Tensor adapted = tape.empty(w.value.shape()), squares = tape.empty(out);
        adapted.copyFrom(w.value);
        backend.loraMerge(adapted, a.value, bb.value, scale, 1f);
        backend.rowSquares(adapted, squares);
        float[] norms = squares.toFloatArray(), magnitude = m.value.toFloatArray(), f = new float[(int) out];
        for (int o = 0; o < out; o++) norms[o] = (float) Math.sqrt(norms[o]);
        for (int o = 0; o < out; o++) f[o] = norms[o] == 0 ? 0f : magnitude[o] / norms[o];
        Tensor factor = tape.onBackend(Tensor.of(tape.arena(), f, out));
        Tensor h = tape.empty(t, r), direction = tape.empty(t, out), y = tape.empty(t, out);
        backend.loraForward(x.value, mask, w.value, null, a.value, bb.value, scale, h, direction);
        y.copyFrom(direction);
        backend.mulRow(factor, y);
        if (b != null) backend.addRow(b.value, y);
        Var res = tape.result(y, x, a, bb, b, m);
        tape.record(res, () -> {
            Tensor gy = res.grad;
            if (gy == null) return;
            if (tape.needs(m)) {
                Tensor sums = tape.zeros(out); // Σ_t g ⊙ (x Vᵀ)
                backend.sumRowsProduct(gy, direction, sums);
                float[] s = sums.toFloatArray();
                for (int o = 0; o < out; o++) s[o] = norms[o] == 0 ? 0f : s[o] / norms[o];
                backend.axpy(1f, tape.onBackend(Tensor.of(tape.arena(), s, out)), tape.gradOf(m));
            }
            if (tape.needs(b)) backend.sumRows(gy, tape.gradOf(b));
            if (tape.needs(x) || tape.needs(a) || tape.needs(bb)) {
                Tensor scaled = tape.empty(t, out);
                scaled.copyFrom(gy);
                backend.mulRow(factor, scaled);
                Tensor da = tape.needs(a) ? tape.gradOf(a) : tape.zeros(a.value.shape()), db = tape.needs(bb) ? tape.gradOf(bb) : tape.zeros(bb.value.shape());
                backend.loraBackward(x.value, mask, w.value, a.value, bb.value, scale, h, scaled, tape.needs(x) ? tape.gradOf(x) : null, da, db);
            }
        });
        return res;
    }
}
