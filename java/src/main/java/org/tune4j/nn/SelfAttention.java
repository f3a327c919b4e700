package org.tune4j.nn;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import org.tune4j.autograd.Tape;
import org.tune4j.autograd.Var;
import org.tune4j.autograd.VisionOps;

/** Multi-head self-attention: a fused qkv projection [dim → 3·dim], attention, an output projection. */
public final class SelfAttention extends Module {
    private final int heads;
    private Layer qkv;
    private Layer proj;

    public SelfAttention(Arena arena, int dim, int heads, SplittableRandom rng) {
        if (dim % heads != 0) throw new IllegalArgumentException("dim " + dim + " is not a multiple of heads " + heads);
        this.heads = heads;
        this.qkv = register("qkv", new Linear(arena, dim, 3 * dim, true, rng));
        this.proj = register("proj", new Linear(arena, dim, dim, true, rng));
    }

    int heads() {
        return heads;
    }

    /** x [batch·seq, dim] → [batch·seq, dim]. */
    public Var forward(Tape t, Var x, int batch) {
        return proj.forward(t, VisionOps.attention(t, qkv.forward(t, x), batch, heads));
    }

    @Override
    protected void onChildReplaced(String name, Module child) {
        if (name.equals("qkv")) qkv = (Layer) child;
        else proj = (Layer) child;
    }
}
