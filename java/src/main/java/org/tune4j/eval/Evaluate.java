package org.tune4j.eval;

import java.lang.foreign.Arena;
import org.tune4j.autograd.Tape;
import org.tune4j.autograd.Workspace;
import org.tune4j.backend.Backend;
import org.tune4j.data.Batcher;
import org.tune4j.data.ImageDataset;
import org.tune4j.nn.Classifier;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * A classifier's predictions and accuracy on a data set, in evaluation mode without gradients: what the
 * training loop, the robustness measures, the compression study and the commands all measure with, so it
 * sits below each of them.
 */
public final class Evaluate {
    private Evaluate() {}

    /** Fraction of {@code data} the model classifies right (evaluation mode, no gradients). */
    public static double accuracy(Backend backend, Classifier model, ImageDataset data, int batchSize) {
        if (data.size() == 0) throw new IllegalArgumentException("accuracy of no images: the data set is empty");
        int[] predicted = predict(backend, model, data, batchSize);
        long right = 0;
        for (int i = 0; i < predicted.length; i++) if (predicted[i] == data.label(i)) right++;
        return (double) right / data.size();
    }

    /** out[offset + r] = the class of the largest of logits' row r, for its first {@code rows} rows (the first of equal ones). */
    public static void argmaxRows(Tensor logits, int rows, int[] out, int offset) {
        if (!logits.isHost()) { // a device's logits: read on the host
            try (Arena arena = Arena.ofConfined()) {
                argmaxRows(logits.copy(arena, org.tune4j.tensor.Memory.HOST), rows, out, offset);
            }
            return;
        }
        for (int r = 0; r < rows; r++) {
            int best = 0;
            for (int c = 1; c < logits.dim(1); c++) if (logits.getFloat(r, c) > logits.getFloat(r, best)) best = c;
            out[offset + r] = best;
        }
    }

    /** The predicted class of every image. */
    public static int[] predict(Backend backend, Classifier model, ImageDataset data, int batchSize) {
        if (batchSize < 1) throw new IllegalArgumentException("batch size must be >= 1, is " + batchSize);
        model.module().train(false);
        Batcher batcher = new Batcher(data, batchSize, 0, false);
        int[] out = new int[data.size()];
        int[] order = batcher.order(0);
        try (Arena buffers = Arena.ofConfined(); Workspace stepMemory = new Workspace()) {
            Tensor x = Tensor.zeros(buffers, DType.F32, batchSize, data.pixelsPerImage());
            Tensor y = Tensor.zeros(buffers, DType.I32, batchSize);
            for (int b = 0; b < batcher.batches(); b++) {
                int rows = batcher.fill(order, b, x, y);
                Tensor xb = rows == batchSize ? x : x.view(0, 0, rows, data.pixelsPerImage());
                try (Tape t = new Tape(backend, false, true, stepMemory)) {
                    argmaxRows(model.logits(t, xb, false).value(), rows, out, b * batchSize);
                }
            }
        } finally {
            model.module().train(true);
        }
        return out;
    }

}
