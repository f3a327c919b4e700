package org.tune4j.nn;

import org.tune4j.autograd.Tape;
import org.tune4j.autograd.Var;
import org.tune4j.backend.Backend;
import org.tune4j.tensor.Tensor;

/**
 * A frozen layer (f32, int8 or 2:4) whose rows may each take a different LoRA adapter: the base runs once for the
 * whole batch, the low-rank terms of every adapter in one shrink and added in one expand (over an f32 base, to the
 * base GEMM's output tiles: Backend {@code loraMixedForward}; ARCHITECTURE.md "Many adapters"). The adapters are
 * not parameters of the model: they come with each batch ({@link AdapterRouting}), so they can be loaded and
 * unloaded while it serves. Inference only: a recording tape is refused.
 */
public final class MultiLoraLinear extends Module implements Layer {
    private final Layer base;
    private final InferenceLayer shape; // the same module: its in and out sizes
    private final String path;

    /** Wraps {@code base} (a Linear, a PackedLinear or a CompressedLinear), found at {@code path} (relative to the encoder, the adapters' key for it). */
    MultiLoraLinear(String path, Module base) {
        if (!(base instanceof Layer l) || !(base instanceof InferenceLayer i)) throw new IllegalArgumentException(path + " is not a linear layer");
        this.base = l;
        this.shape = i;
        this.path = path;
        register("base", base);
    }

    public String path() {
        return path;
    }

    /** The base's [out, in] shape, for checking an adapter against it. */
    public long[] baseShape() {
        return new long[] {shape.out(), shape.in()};
    }

    @Override
    public Var forward(Tape t, Var x) {
        return base.forward(t, x);
    }

    /**
     * y = base(x) with each row's adapter term (rows of sequences without an adapter keep the base's): over an f32
     * base (packed or not) in one pass, the terms added to the base GEMM's output tiles ({@code loraMixedForward}); over another
     * base (int8, 2:4) its forward, then shrink and expand.
     */
    public Var forward(Tape t, Var x, AdapterRouting routing) {
        AdapterRouting.LayerRoute route = routing == null ? null : routing.route(path);
        if (route == null) return base.forward(t, x);
        if (t.parameterGradients() || x.requiresGrad()) throw new IllegalStateException(path + ": a mixed-adapter batch is served, not trained (use a tape that does not record)");
        Backend be = t.backend();
        long rows = x.value().dim(0);
        // h and y are written whole by the backend (shrink writes zeros past a row's rank; y = x Wᵀ + ...): not zeroed first
        Tensor h = t.empty(rows, route.adapters().maxRank());
        if (base instanceof Linear lin) {
            Tensor y = t.empty(rows, lin.out());
            be.loraMixedForward(x.value(), lin.weight.value(), lin.bias == null ? null : lin.bias.value(), routing.segStart(), route.segAdapter(), route.adapters(), h, y);
            return t.input(y, false);
        }
        if (base instanceof PackedLinear packed) {
            Tensor y = t.empty(rows, packed.out());
            be.loraMixedForwardPacked(x.value(), packed.packed(), packed.biasValue(), routing.segStart(), route.segAdapter(), route.adapters(), h, y);
            return t.input(y, false);
        }
        Var y = base.forward(t, x);
        be.loraShrinkSegments(x.value(), routing.segStart(), route.segAdapter(), route.adapters(), h);
        be.loraExpandSegments(h, routing.segStart(), route.segAdapter(), route.adapters(), y.value());
        return y;
    }
}
