package org.tune4j.robust;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import org.tune4j.autograd.Tape;
import org.tune4j.autograd.Workspace;
import org.tune4j.autograd.Var;
import org.tune4j.backend.Backend;
import org.tune4j.data.Batcher;
import org.tune4j.data.ImageDataset;
import org.tune4j.nn.Classifier;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Memory;
import org.tune4j.tensor.Tensor;

/**
 * L∞ attacks on images in [0, 1] with the input gradients of the tape: FGSM (Goodfellow et al. 2015) and
 * PGD (Madry et al. 2018: a random start in the ε-ball, then {@code steps} signed-gradient steps of size
 * α, each projected back onto the ε-ball and [0, 1]). The model's own gradients are not touched.
 */
public final class Attacks {
    /** One attack's settings; FGSM is PGD with one step of size ε and no random start. */
    public record Pgd(float epsilon, float stepSize, int steps, boolean randomStart) {
        public Pgd {
            if (!(epsilon >= 0 && epsilon <= 1)) throw new IllegalArgumentException("epsilon must be in [0, 1] (pixels are in [0, 1]), is " + epsilon);
            if (!(stepSize >= 0 && stepSize < Float.POSITIVE_INFINITY)) throw new IllegalArgumentException("stepSize must be finite and >= 0, is " + stepSize);
            if (steps < 1) throw new IllegalArgumentException("steps must be >= 1, is " + steps);
        }

        public static Pgd fgsm(float epsilon) {
            return new Pgd(epsilon, epsilon, 1, false);
        }

        /** Madry et al.'s usual choice: step 2.5·ε / steps, random start. */
        public static Pgd standard(float epsilon, int steps) {
            return new Pgd(epsilon, 2.5f * epsilon / steps, steps, true);
        }
    }

    private Attacks() {}

    /**
     * Replaces x [batch, pixels] (in [0, 1]) by its adversarial version against {@code labels}. On a device backend the
     * images, labels and loss stay in its memory for every step ({@link Backend#pgdStep}, {@link Tape#lossOnBackend}):
     * x goes there once (with the random start) and comes back once.
     */
    public static void perturb(Backend backend, Classifier model, Tensor x, Tensor labels, Pgd attack, SplittableRandom rng) {
        int n = (int) x.numel();
        float[] orig = x.toFloatArray(), adv = orig.clone();
        if (attack.randomStart()) {
            for (int i = 0; i < n; i++) adv[i] = clip(orig[i] + (float) ((rng.nextDouble() * 2 - 1) * attack.epsilon()), orig[i], attack.epsilon());
        }
        boolean wasTraining = model.module().training();
        model.module().train(false);
        try (Arena scratch = Arena.ofConfined(); Workspace stepMemory = new Workspace()) {
            Memory where = backend.memory();
            Tensor xa = Tensor.of(scratch, adv, x.dim(0), x.dim(1)), xo = Tensor.of(scratch, orig, x.dim(0), x.dim(1)), y = labels;
            if (!where.isHost()) {
                xa = xa.copy(scratch, where);
                xo = xo.copy(scratch, where);
                y = labels.copy(scratch, where);
            }
            for (int s = 0; s < attack.steps(); s++) {
                try (Tape t = new Tape(backend, true, false, stepMemory).lossOnBackend()) {
                    Var input = t.input(xa, true);
                    Var loss = t.crossEntropy(model.logits(t, input), y, 0f);
                    t.backward(loss);
                    if (input.grad() != null) backend.pgdStep(xa, input.grad(), xo, attack.stepSize(), attack.epsilon());
                }
            }
            x.copyFrom(xa);
        } finally {
            model.module().train(wasTraining);
        }
    }

    private static float clip(float v, float center, float eps) {
        return Math.min(1f, Math.max(0f, Math.min(center + eps, Math.max(center - eps, v))));
    }

    /** Accuracy on {@code data} under {@code attack} (images attacked one batch at a time, seeded). */
    public static double robustAccuracy(Backend backend, Classifier model, ImageDataset data, Pgd attack, int batchSize, long seed) {
        if (data.size() == 0) throw new IllegalArgumentException("robust accuracy of no images: the data set is empty");
        Batcher batcher = new Batcher(data, batchSize, 0, false);
        int[] order = batcher.order(0);
        SplittableRandom rng = new SplittableRandom(seed);
        long right = 0;
        try (Arena buffers = Arena.ofConfined()) {
            Tensor x = Tensor.zeros(buffers, DType.F32, batchSize, data.pixelsPerImage()), y = Tensor.zeros(buffers, DType.I32, batchSize);
            for (int b = 0; b < batcher.batches(); b++) {
                int rows = batcher.fill(order, b, x, y);
                Tensor xb = rows == batchSize ? x : x.view(0, 0, rows, data.pixelsPerImage());
                Tensor yb = y;
                if (rows != batchSize) {
                    yb = Tensor.zeros(buffers, DType.I32, rows);
                    for (int i = 0; i < rows; i++) yb.setInt(i, y.getInt(i));
                }
                Tensor xc = Tensor.zeros(buffers, DType.F32, rows, data.pixelsPerImage());
                xc.copyFrom(xb);
                perturb(backend, model, xc, yb, attack, rng);
                int[] pred = Predictions.argmax(backend, model, xc);
                for (int i = 0; i < rows; i++) if (pred[i] == yb.getInt(i)) right++;
            }
        }
        return (double) right / data.size();
    }
}
