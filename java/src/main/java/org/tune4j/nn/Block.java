package org.tune4j.nn;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import org.tune4j.autograd.Tape;
import org.tune4j.autograd.Var;

/** A pre-norm transformer block: x + attn(ln1(x)), then + mlp(ln2(x)). */
public final class Block extends Module {
    private final LayerNorm norm1;
    private final SelfAttention attn;
    private final LayerNorm norm2;
    private final Mlp mlp;

    public Block(Arena arena, int dim, int heads, int hidden, SplittableRandom rng) {
        norm1 = register("norm1", new LayerNorm(arena, dim));
        attn = register("attn", new SelfAttention(arena, dim, heads, rng));
        norm2 = register("norm2", new LayerNorm(arena, dim));
        mlp = register("mlp", new Mlp(arena, dim, hidden, dim, rng));
    }

    public Var forward(Tape t, Var x, int batch) {
        Var h = t.add(x, attn.forward(t, norm1.forward(t, x), batch));
        return t.add(h, mlp.forward(t, norm2.forward(t, h)));
    }
}
