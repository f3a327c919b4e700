package org.tune4j.train;

import java.util.List;
import java.util.SplittableRandom;

/** Test access to the package-private batching of {@link TextTrainer}. */
public final class TextTrainerAccess {
    private TextTrainerAccess() {}

    public static List<int[]> bucketed(int[][] ids, int batch, SplittableRandom rng) {
        return TextTrainer.bucketed(ids, batch, rng);
    }
}
