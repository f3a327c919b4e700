package org.tune4j.eval;

import java.lang.foreign.Arena;
import org.tune4j.autograd.Tape;
import org.tune4j.autograd.Var;
import org.tune4j.autograd.Workspace;
import org.tune4j.backend.Backend;
import org.tune4j.data.TokenBatch;
import org.tune4j.nn.BertClassifier;
import org.tune4j.tensor.Tensor;

/** A text classifier's predictions and pooled vectors over token sequences, in no-grad batches. */
public final class EvaluateText {
    private EvaluateText() {}

    /** The predicted class of each sequence. */
    public static int[] predict(Backend backend, BertClassifier model, int[][] ids, int batchSize) {
        int[] out = new int[ids.length];
        forEachBatch(backend, model, ids, batchSize, (t, in, from) -> {
            Evaluate.argmaxRows(model.logits(t, in).value(), in.batch(), out, from);
        });
        return out;
    }

    /** The fraction of {@code predicted} equal to {@code labels}. */
    public static double accuracy(int[] predicted, int[] labels) {
        if (labels.length == 0 || predicted.length != labels.length) throw new IllegalArgumentException("accuracy of " + predicted.length + " predictions for " + labels.length + " labels");
        int right = 0;
        for (int i = 0; i < labels.length; i++) if (predicted[i] == labels[i]) right++;
        return (double) right / labels.length;
    }

    /** The encoder's pooled vector of each sequence [n][hidden] (the features of a linear probe). */
    public static float[][] pooled(Backend backend, BertClassifier model, int[][] ids, int batchSize) {
        float[][] out = new float[ids.length][];
        forEachBatch(backend, model, ids, batchSize, (t, in, from) -> {
            Var p = model.pooled(t, in);
            int d = (int) p.value().dim(1);
            float[] all = p.value().toFloatArray();
            for (int b = 0; b < in.batch(); b++) out[from + b] = java.util.Arrays.copyOfRange(all, b * d, (b + 1) * d);
        });
        return out;
    }

    /** The head's predicted class for each pooled vector [n][hidden] (a linear probe's predictions). */
    public static int[] predictPooled(Backend backend, BertClassifier model, float[][] pooled) {
        int n = pooled.length;
        int[] out = new int[n];
        try (Arena arena = Arena.ofConfined(); Tape t = new Tape(backend, false)) {
            Tensor x = Tensor.ofRows(arena, pooled);
            Evaluate.argmaxRows(model.head(t, t.input(x, false)).value(), n, out, 0);
        }
        return out;
    }

    private interface BatchWork {
        void run(Tape t, TokenBatch in, int from);
    }

    private static void forEachBatch(Backend backend, BertClassifier model, int[][] ids, int batchSize, BatchWork work) {
        if (batchSize < 1) throw new IllegalArgumentException("batch size must be >= 1, is " + batchSize);
        boolean training = model.training();
        model.train(false);
        try (Workspace ws = new Workspace()) {
            for (int from = 0; from < ids.length; from += batchSize) {
                int n = Math.min(batchSize, ids.length - from);
                try (Arena arena = Arena.ofConfined(); Tape t = new Tape(backend, false, false, ws)) {
                    work.run(t, TokenBatch.of(arena, java.util.Arrays.copyOfRange(ids, from, from + n), null), from);
                }
            }
        } finally {
            model.train(training);
        }
    }
}
