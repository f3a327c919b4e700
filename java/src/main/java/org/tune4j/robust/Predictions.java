package org.tune4j.robust;

import org.tune4j.autograd.Tape;
import org.tune4j.backend.Backend;
import org.tune4j.data.ImageDataset;
import org.tune4j.nn.Classifier;
import org.tune4j.tensor.Tensor;

/** Class predictions and softmax confidences of a classifier on a batch of images. */
public final class Predictions {
    private Predictions() {}

    /** The predicted class of each row of x. */
    public static int[] argmax(Backend backend, Classifier model, Tensor x) {
        float[][] p = probabilities(backend, model, x);
        int[] out = new int[p.length];
        for (int i = 0; i < p.length; i++)
            for (int c = 1; c < p[i].length; c++) if (p[i][c] > p[i][out[i]]) out[i] = c;
        return out;
    }

    /** Softmax probabilities [rows][classes] (evaluation mode, no gradients). */
    public static float[][] probabilities(Backend backend, Classifier model, Tensor x) {
        boolean wasTraining = model.module().training();
        model.module().train(false);
        try (Tape t = new Tape(backend, false)) {
            Tensor logits = model.logits(t, x, false).value();
            Tensor probs = t.zeros(logits.shape());
            backend.softmaxForward(logits, probs);
            int rows = (int) probs.dim(0), classes = (int) probs.dim(1);
            float[][] out = new float[rows][classes];
            float[] all = probs.toFloatArray(); // read back from a device's memory too
            for (int i = 0; i < rows; i++) System.arraycopy(all, i * classes, out[i], 0, classes);
            return out;
        } finally {
            model.module().train(wasTraining);
        }
    }

    /** Softmax probabilities [image][class] of every image of a data set, in order, in batches of 256. */
    public static float[][] probabilities(Backend backend, Classifier model, ImageDataset data) {
        float[][] out = new float[data.size()][];
        int batch = 256;
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
            org.tune4j.data.Batcher batcher = new org.tune4j.data.Batcher(data, batch, 0, false);
            int[] order = batcher.order(0);
            var x = org.tune4j.tensor.Tensor.zeros(arena, org.tune4j.tensor.DType.F32, batch, data.pixelsPerImage());
            var y = org.tune4j.tensor.Tensor.zeros(arena, org.tune4j.tensor.DType.I32, batch);
            for (int b = 0; b < batcher.batches(); b++) {
                int rows = batcher.fill(order, b, x, y);
                float[][] p = Predictions.probabilities(backend, model, rows == batch ? x : x.view(0, 0, rows, data.pixelsPerImage()));
                System.arraycopy(p, 0, out, b * batch, rows);
            }
        }
        return out;
    }
}
