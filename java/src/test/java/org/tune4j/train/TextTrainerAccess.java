package org.tune4j.train;

import java.util.List;
import java.util.SplittableRandom;

/** Test access to the package-private batching and encoder loop of {@link TextTrainer}. */
public final class TextTrainerAccess {
    private TextTrainerAccess() {}

    public static double[] fitThroughEncoder(org.tune4j.backend.Backend backend, org.tune4j.nn.BertClassifier model, int[][] ids, int[] labels, TextTrainer.Options o) {
        return TextTrainer.fitThroughEncoder(backend, model, ids, labels, o, line -> {}, Trainer.Listener.NONE);
    }

    public static List<int[]> bucketed(int[][] ids, int batch, SplittableRandom rng) {
        return TextTrainer.bucketed(ids, batch, rng);
    }
}
