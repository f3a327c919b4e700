package org.tune4j.nn;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import org.tune4j.autograd.DoraOp;
import org.tune4j.autograd.Parameter;
import org.tune4j.autograd.Tape;
import org.tune4j.autograd.Var;
import org.tune4j.backend.Activation;
import org.tune4j.backend.Backend;
import org.tune4j.tensor.Tensor;

/**
 * A frozen Linear with a LoRA adapter (PEFT semantics): y = x Wᵀ + b + s·(dropout(x) Aᵀ) Bᵀ, s = alpha/r
 * (alpha/√r with rsLoRA); A [r, in] ~ U(±1/√in) as PEFT's Kaiming init, B [out, r] = 0, so the layer
 * starts exactly as the base. Parameters: "lora_A", "lora_B", and the base's "base.weight", "base.bias".
 *
 * <p>With DoRA ({@code dora}, PEFT's {@code use_dora}) the layer also trains a magnitude m [out]
 * ("lora_magnitude_vector", starting at the row norms of W): y = (m / ‖W + s·B A‖_row) ⊙ (x (W + s·B A)ᵀ) + b,
 * see {@link DoraOp#dora}. A DoRA adapter serves merged ({@link #merge}); its unmerged {@link #infer} throws.
 */
public final class LoraLinear extends Module implements Layer, InferenceLayer {
    private final Linear base;
    private final Parameter a;
    private final Parameter b;
    private final Parameter magnitude; // DoRA's m [out], or null
    private float[] mergedFactor;      // DoRA: m / ‖W + s·B A‖ at merge time, to unmerge
    private Tensor pissaA0, pissaB0;   // PiSSA: the adapter as initialised (the base holds W − s·B₀ A₀)
    private final float scale;
    private final float dropout;
    private final SplittableRandom dropoutRng;
    private boolean merged;

    public LoraLinear(Arena arena, Linear base, int r, float alpha, float dropout, boolean rsLora, SplittableRandom rng) {
        this(arena, base, r, alpha, dropout, rsLora, false, rng);
    }

    public LoraLinear(Arena arena, Linear base, int r, float alpha, float dropout, boolean rsLora, boolean dora, SplittableRandom rng) {
        if (r < 1) throw new IllegalArgumentException("rank r must be >= 1, is " + r);
        if (r > Math.min(base.in(), base.out())) {
            throw new IllegalArgumentException("rank r " + r + " exceeds the layer's " + base.out() + "x" + base.in() + ": a LoRA update is at most of rank "
                    + Math.min(base.in(), base.out()));
        }
        if (!Float.isFinite(alpha)) throw new IllegalArgumentException("alpha must be finite, is " + alpha);
        if (!(dropout >= 0 && dropout < 1)) throw new IllegalArgumentException("dropout must be in [0, 1), is " + dropout);
        this.base = register("base", base);
        base.setTrainable(false);
        this.a = register("lora_A", new Parameter(arena, r, base.in()));
        this.b = register("lora_B", new Parameter(arena, base.out(), r));
        Init.uniform(a.value(), 1 / Math.sqrt(base.in()), rng);
        this.scale = (float) (rsLora ? alpha / Math.sqrt(r) : alpha / r);
        this.dropout = dropout;
        this.dropoutRng = rng.split();
        if (dora) {
            magnitude = register("lora_magnitude_vector", new Parameter(arena, base.out()));
            Tensor w = base.weight.value(); // B = 0: the adapted weight is W, m its row norms (computed once, here in double)
            for (long o = 0; o < w.dim(0); o++) {
                double squares = 0;
                for (long j = 0; j < w.dim(1); j++) squares += (double) w.getFloat(o, j) * w.getFloat(o, j);
                magnitude.value().setFloat(o, (float) Math.sqrt(squares));
            }
        } else {
            magnitude = null;
        }
    }

    @Override
    public Var forward(Tape t, Var x) {
        if (merged) return base.forward(t, x);
        var mask = training() ? t.dropoutMask(x.value().dim(0), x.value().dim(1), dropout, dropoutRng) : null;
        if (magnitude != null)
            return DoraOp.dora(t, x, t.param(base.weight), base.bias == null ? null : t.param(base.bias), t.param(a), t.param(b), t.param(magnitude), scale, mask);
        return t.lora(x, t.param(base.weight), base.bias == null ? null : t.param(base.bias), t.param(a), t.param(b), scale, mask);
    }

    @Override
    public int in() {
        return base.in();
    }

    @Override
    public int out() {
        return base.out();
    }

    @Override
    public int scratchColumns() {
        return merged ? 0 : (int) a.value().dim(0);
    }

    /** The adapter unmerged: y = x Wᵀ + b + s·(x Aᵀ) Bᵀ in one fused call (no dropout at inference). */
    @Override
    public void infer(Backend backend, Tensor x, Tensor y, Activation act, Tensor scratch) {
        if (merged) {
            base.infer(backend, x, y, act, scratch);
            return;
        }
        if (magnitude != null) throw new IllegalStateException("a DoRA adapter serves merged: call merge() before inference");
        backend.loraForward(x, null, base.weight.value(), base.bias == null ? null : base.bias.value(), a.value(), b.value(), scale, scratch, y);
        InferenceLayer.activate(backend, y, act);
    }

    public boolean merged() {
        return merged;
    }

    /** W += s·B A (DoRA: W = m/‖W + s·B A‖ ⊙ (W + s·B A)): the adapter folded into the base, for inference at base speed. */
    public void merge(Backend backend) {
        if (merged) return;
        Tensor w = base.weight.value();
        backend.loraMerge(w, a.value(), b.value(), scale, 1f);
        if (magnitude != null) {
            float[] norms = new float[(int) w.dim(0)];
            try (Arena scratch = Arena.ofConfined()) { // the row norms by the kernel DoraOp.dora uses, so merged = unmerged
                Tensor squares = Tensor.zeros(scratch, org.tune4j.tensor.DType.F32, w.dim(0));
                backend.rowSquares(w, squares);
                for (int o = 0; o < norms.length; o++) norms[o] = (float) Math.sqrt(squares.getFloat(o));
            }
            mergedFactor = new float[norms.length];
            for (int o = 0; o < norms.length; o++) {
                float f = norms[o] == 0 ? 0f : magnitude.value().getFloat(o) / norms[o];
                if (f == 0) throw new IllegalStateException("DoRA row " + o + " has magnitude or norm 0: merging it could not be undone");
                mergedFactor[o] = f;
            }
            scaleRows(w, mergedFactor, false);
        }
        merged = true;
    }

    /** W −= s·B A (DoRA: W = W / factor − s·B A): the base as it was, up to rounding. */
    public void unmerge(Backend backend) {
        if (!merged) return;
        Tensor w = base.weight.value();
        if (magnitude != null) scaleRows(w, mergedFactor, true);
        backend.loraMerge(w, a.value(), b.value(), scale, -1f);
        merged = false;
    }

    private static void scaleRows(Tensor w, float[] factor, boolean divide) {
        for (int o = 0; o < w.dim(0); o++) {
            float f = factor[o];
            for (long j = 0; j < w.dim(1); j++) w.setFloat(o, j, divide ? w.getFloat(o, j) / f : w.getFloat(o, j) * f);
        }
    }

    /** DoRA's magnitude m [out] ("lora_magnitude_vector"), or null for plain LoRA. */
    public Parameter magnitude() {
        return magnitude;
    }

    /**
     * PiSSA's initialisation (Meng et al. 2024; PEFT's {@code init_lora_weights="pissa"}): A and B from the r
     * principal singular triplets of the base weight W = U S Vᵀ, A = √(S/s) Vᵀ [r, in], B = U √(S/s) [out, r],
     * and the base keeps the residual W − s·B A, so the layer computes what it did before; training then
     * moves the principal directions instead of a random subspace. Call before training, unmerged. The
     * initial A and B are kept (in {@code arena}) for {@link #asPlainLora}.
     */
    public void initPissa(Arena arena, SplittableRandom rng) {
        if (merged) throw new IllegalStateException("initPissa on a merged adapter");
        if (pissaA0 != null) throw new IllegalStateException("initPissa called twice");
        Tensor w = base.weight.value();
        int out = (int) w.dim(0), in = (int) w.dim(1), r = (int) a.value().dim(0);
        TopSingular svd = TopSingular.of(w, r, 60, rng);
        for (int k = 0; k < r; k++) {
            double root = Math.sqrt(svd.values[k] / scale);
            for (int j = 0; j < in; j++) a.value().setFloat(k, j, (float) (root * svd.v[k][j]));
            for (int i = 0; i < out; i++) b.value().setFloat(i, k, (float) (root * svd.u[k][i]));
        }
        for (int i = 0; i < out; i++) for (int j = 0; j < in; j++) {
            double ba = 0;
            for (int k = 0; k < r; k++) ba += (double) b.value().getFloat(i, k) * a.value().getFloat(k, j);
            w.setFloat(i, j, (float) (w.getFloat(i, j) - scale * ba));
        }
        pissaA0 = a.value().copy(arena);
        pissaB0 = b.value().copy(arena);
    }

    /** Whether {@link #initPissa} initialised this adapter (its base holds the residual, not the original W). */
    public boolean pissa() {
        return pissaA0 != null;
    }

    /**
     * The adapter as plain LoRA over the original W, as PEFT converts a PiSSA adapter when it saves one:
     * s·(B A − B₀ A₀) = s·[B, −B₀]·[A; A₀], rank 2r at the same s (alpha doubled; ×√2 with rsLoRA), so that
     * it applies to the model PiSSA started from. {A' [2r, in], B' [out, 2r]} in {@code arena}; for an
     * adapter not initialised by PiSSA, its own A and B.
     */
    public Tensor[] asPlainLora(Arena arena) {
        if (pissaA0 == null) return new Tensor[] {a.value(), b.value()};
        long r = a.value().dim(0), in = base.in(), out = base.out();
        Tensor a2 = Tensor.zeros(arena, org.tune4j.tensor.DType.F32, 2 * r, in), b2 = Tensor.zeros(arena, org.tune4j.tensor.DType.F32, out, 2 * r);
        for (long k = 0; k < r; k++) for (long j = 0; j < in; j++) {
            a2.setFloat(k, j, a.value().getFloat(k, j));
            a2.setFloat(r + k, j, pissaA0.getFloat(k, j));
        }
        for (long i = 0; i < out; i++) for (long k = 0; k < r; k++) {
            b2.setFloat(i, k, b.value().getFloat(i, k));
            b2.setFloat(i, r + k, -pissaB0.getFloat(i, k));
        }
        return new Tensor[] {a2, b2};
    }

    public Parameter loraA() {
        return a;
    }

    public Parameter loraB() {
        return b;
    }

    public Linear base() {
        return base;
    }

    /** The adapter's input dropout probability (training only). */
    public float dropout() {
        return dropout;
    }

    public float scale() {
        return scale;
    }
}
