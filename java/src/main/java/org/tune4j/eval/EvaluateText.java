package org.tune4j.eval;

import java.lang.foreign.Arena;
import org.tune4j.autograd.Tape;
import org.tune4j.autograd.Var;
import org.tune4j.autograd.Workspace;
import org.tune4j.backend.Backend;
import org.tune4j.data.TokenBatch;
import org.tune4j.nn.BertClassifier;
import org.tune4j.tensor.Tensor;

/**
 * A text classifier's predictions and pooled vectors over token sequences, in no-grad batches. Each call takes a fresh
 * {@link Workspace} unless given one: a caller that makes many small calls (an attack's candidates, batch-1 latency)
 * passes its own, so only its first call pays for fresh memory (page faults and zeroing cost more than the forward
 * pass of a small batch).
 */
public final class EvaluateText {
    private EvaluateText() {}

    /** The predicted class of each sequence. */
    public static int[] predict(Backend backend, BertClassifier model, int[][] ids, int batchSize) {
        return predict(backend, model, ids, batchSize, null);
    }

    /** {@link #predict(Backend, BertClassifier, int[][], int)} on {@code ws} (null: a fresh one). */
    public static int[] predict(Backend backend, BertClassifier model, int[][] ids, int batchSize, Workspace ws) {
        int[] out = new int[ids.length];
        forEachBatch(backend, model, ids, batchSize, ws, (t, in, from) -> {
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
        return pooled(backend, model, ids, batchSize, null);
    }

    /** {@link #pooled(Backend, BertClassifier, int[][], int)} on {@code ws} (null: a fresh one). */
    public static float[][] pooled(Backend backend, BertClassifier model, int[][] ids, int batchSize, Workspace ws) {
        float[][] out = new float[ids.length][];
        forEachBatch(backend, model, ids, batchSize, ws, (t, in, from) -> {
            Var p = model.pooled(t, in);
            copyRows(p.value().toFloatArray(), (int) p.value().dim(1), in.batch(), out, from);
        });
        return out;
    }

    /** A classifier's pooled vectors [n][hidden] and logits [n][classes], from one forward pass. */
    public record Outputs(float[][] pooled, float[][] logits) {
        /** softmax(logits) per row. */
        public float[][] probabilities() {
            float[][] p = new float[logits.length][];
            for (int i = 0; i < p.length; i++) {
                float[] l = logits[i];
                double m = Double.NEGATIVE_INFINITY, z = 0;
                for (float v : l) m = Math.max(m, v);
                p[i] = new float[l.length];
                for (int c = 0; c < l.length; c++) z += Math.exp(l[c] - m);
                for (int c = 0; c < l.length; c++) p[i][c] = (float) (Math.exp(l[c] - m) / z);
            }
            return p;
        }

        public int[] predicted() {
            int[] out = new int[logits.length];
            for (int i = 0; i < out.length; i++) for (int c = 1; c < logits[i].length; c++) if (logits[i][c] > logits[i][out[i]]) out[i] = c;
            return out;
        }
    }

    /** Each sequence's pooled vector and logits. */
    public static Outputs outputs(Backend backend, BertClassifier model, int[][] ids, int batchSize) {
        return outputs(backend, model, ids, batchSize, null);
    }

    /** {@link #outputs(Backend, BertClassifier, int[][], int)} on {@code ws} (null: a fresh one). */
    public static Outputs outputs(Backend backend, BertClassifier model, int[][] ids, int batchSize, Workspace ws) {
        float[][] pooled = new float[ids.length][], logits = new float[ids.length][];
        forEachBatch(backend, model, ids, batchSize, ws, (t, in, from) -> {
            Var p = model.pooled(t, in);
            Var l = model.head(t, p);
            copyRows(p.value().toFloatArray(), (int) p.value().dim(1), in.batch(), pooled, from);
            copyRows(l.value().toFloatArray(), (int) l.value().dim(1), in.batch(), logits, from);
        });
        return new Outputs(pooled, logits);
    }

    private static void copyRows(float[] all, int d, int rows, float[][] out, int from) {
        for (int b = 0; b < rows; b++) out[from + b] = java.util.Arrays.copyOfRange(all, b * d, (b + 1) * d);
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

    private static void forEachBatch(Backend backend, BertClassifier model, int[][] ids, int batchSize, Workspace given, BatchWork work) {
        if (batchSize < 1) throw new IllegalArgumentException("batch size must be >= 1, is " + batchSize);
        boolean training = model.training();
        model.train(false);
        Workspace ws = given == null ? new Workspace() : given;
        try {
            for (int from = 0; from < ids.length; from += batchSize) {
                int n = Math.min(batchSize, ids.length - from);
                try (Arena arena = Arena.ofConfined(); Tape t = new Tape(backend, false, false, ws)) {
                    work.run(t, TokenBatch.of(arena, java.util.Arrays.copyOfRange(ids, from, from + n), null), from);
                }
            }
        } finally {
            model.train(training);
            if (given == null) ws.close();
        }
    }
}
