package org.tune4j.nn;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import org.tune4j.autograd.Tape;
import org.tune4j.autograd.Var;

/** An MLP classifier on flattened images: pixels → hidden (GELU) → classes. */
public final class MlpClassifier extends Module implements Classifier {
    private final Mlp mlp;

    public MlpClassifier(Arena arena, int pixels, int hidden, int classes, SplittableRandom rng) {
        mlp = register("mlp", new Mlp(arena, pixels, hidden, classes, rng));
    }

    @Override
    public Var logits(Tape t, Var images) {
        return mlp.forward(t, images);
    }

    @Override
    public Module module() {
        return this;
    }
}
