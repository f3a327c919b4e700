package org.tune4j.train;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import org.tune4j.autograd.Parameter;
import org.tune4j.backend.Backend;
import org.tune4j.data.Batcher;
import org.tune4j.data.ImageDataset;
import org.tune4j.eval.Evaluate;
import org.tune4j.nn.Classifier;
import org.tune4j.optim.AdamW;
import org.tune4j.optim.LrSchedule;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * The training loop: seeded batches, forward on a tape, softmax cross-entropy, backward, global-norm
 * clipping, AdamW with a schedule; the validation accuracy after each epoch. Reports through a
 * {@link Listener} (the library prints nothing; the command line draws the progress bar).
 */
public final class Trainer {
    /**
     * How to train. With {@code adversarial} set, the first {@code adversarialFraction} of every batch is
     * replaced by its adversarial version before the step (adversarial training, Madry et al. 2018; FGSM
     * with a random start is "fast adversarial training", Wong et al. 2020). {@code microBatches}: each batch cut into
     * that many parts ({@link org.tune4j.autograd.MicroBatches}: on a CPU with no more threads than parts they run at
     * once, a thread each; the bits depend on the parts, not the threads); the model's tensors must then be in a
     * shared arena.
     */
    public record Options(int epochs, int batchSize, long seed, float labelSmoothing, double maxGradNorm,
            org.tune4j.robust.Attacks.Pgd adversarial, double adversarialFraction, int microBatches) {
        public Options {
            if (epochs < 1 || batchSize < 1) throw new IllegalArgumentException("epochs and batchSize must be >= 1, are " + epochs + ", " + batchSize);
            if (!(labelSmoothing >= 0 && labelSmoothing < 1)) throw new IllegalArgumentException("labelSmoothing must be in [0, 1), is " + labelSmoothing);
            if (!(maxGradNorm >= 0)) throw new IllegalArgumentException("maxGradNorm must be >= 0 (0: no clipping), is " + maxGradNorm);
            if (!(adversarialFraction >= 0 && adversarialFraction <= 1)) throw new IllegalArgumentException("adversarialFraction must be in [0, 1], is " + adversarialFraction);
            if (microBatches < 1 || microBatches > batchSize) throw new IllegalArgumentException("micro-batches must be in [1, batchSize " + batchSize + "], is " + microBatches);
        }

        public Options(int epochs, int batchSize, long seed, float labelSmoothing, double maxGradNorm, org.tune4j.robust.Attacks.Pgd adversarial,
                double adversarialFraction) {
            this(epochs, batchSize, seed, labelSmoothing, maxGradNorm, adversarial, adversarialFraction, 1);
        }

        public Options(int epochs, int batchSize, long seed, float labelSmoothing, double maxGradNorm) {
            this(epochs, batchSize, seed, labelSmoothing, maxGradNorm, null, 0);
        }

        /** These options with each batch as {@code parts} micro-batches. */
        public Options withMicroBatches(int parts) {
            return new Options(epochs, batchSize, seed, labelSmoothing, maxGradNorm, adversarial, adversarialFraction, parts);
        }
    }

    /**
     * Progress reports, of the ViT's {@link Trainer} and of {@link TextTrainer}: after each step (its epoch, its number of
     * the epoch's {@code steps}, its mean loss, images or sequences a second), after each epoch ({@code valAccuracy} NaN
     * where there is no validation set: the text loop's).
     */
    public interface Listener {
        /** A listener that hears nothing. */
        Listener NONE = new Listener() {};

        default void onStep(int epoch, int step, int steps, float loss, double examplesPerSecond) {}

        default void onEpoch(int epoch, double trainLoss, double valAccuracy, double seconds) {}

        /** This listener, then {@code next} (progress bar and gradual pruning, say). */
        default Listener andThen(Listener next) {
            Listener first = this;
            return new Listener() {
                @Override
                public void onStep(int epoch, int step, int steps, float loss, double examplesPerSecond) {
                    first.onStep(epoch, step, steps, loss, examplesPerSecond);
                    next.onStep(epoch, step, steps, loss, examplesPerSecond);
                }

                @Override
                public void onEpoch(int epoch, double trainLoss, double valAccuracy, double seconds) {
                    first.onEpoch(epoch, trainLoss, valAccuracy, seconds);
                    next.onEpoch(epoch, trainLoss, valAccuracy, seconds);
                }
            };
        }
    }

    /**
     * What happened: per epoch mean training loss and validation accuracy; mean step time; on a device backend how its
     * steps ran ("recorded as a CUDA graph", or op by op and why; null on the host).
     */
    public record History(List<Double> trainLoss, List<Double> valAccuracy, double meanStepMillis, double imagesPerSecond, long peakStepBytes, String deviceSteps) {}

    /** Whether a device backend's training steps are recorded as a CUDA graph ({@link TrainingSteps}): true unless -Dtune4j.recordSteps=false. */
    static boolean recordSteps() {
        return Boolean.parseBoolean(System.getProperty("tune4j.recordSteps", "true"));
    }

    private Trainer() {}

    public static History fit(Backend backend, Classifier model, AdamW optimizer, LrSchedule schedule, ImageDataset train,
            ImageDataset validation, Options o, Listener listener) {
        java.util.SplittableRandom attackRng = attackRng(o);
        try (TrainingSteps steps = new TrainingSteps(backend, model, optimizer, o, train.pixelsPerImage(), recordSteps())) {
            History h = epochs(backend, model, train, validation, o, listener, schedule, optimizer.steps(), steps::peakStepBytes, (xb, yb, rows, lr) -> {
                perturbPrefix(backend, model, xb, yb, rows, o, attackRng);
                return steps.train(xb, yb, rows, lr);
            });
            String how = backend.memory().isHost() ? null : steps.how(); // a host has no graphs to report
            return new History(h.trainLoss(), h.valAccuracy(), h.meanStepMillis(), h.imagesPerSecond(), h.peakStepBytes(), how);
        }
    }

    private static java.util.SplittableRandom attackRng(Options o) {
        return new java.util.SplittableRandom(o.seed() ^ 0x5DEECE66DL);
    }

    /** Adversarial training's part of a batch: its first round(rows × o.adversarialFraction()) images replaced by their attacks on {@code model}. */
    private static void perturbPrefix(Backend backend, Classifier model, Tensor xb, Tensor yb, int rows, Options o, java.util.SplittableRandom rng) {
        int adv = o.adversarial() == null ? 0 : (int) Math.round(rows * o.adversarialFraction());
        if (adv == 0) return;
        long pixels = xb.dim(1);
        try (Arena scratch = Arena.ofConfined()) {
            Tensor part = Tensor.zeros(scratch, DType.F32, adv, pixels);
            part.copyFrom(xb.view(0, 0, adv, pixels));
            org.tune4j.robust.Attacks.perturb(backend, model, part, labelsPrefix(scratch, yb, adv), o.adversarial(), rng);
            xb.view(0, 0, adv, pixels).copyFrom(part);
        }
        model.module().train(true);
    }

    /** One batch's training: images xb [rows, pixels], labels yb [rows], at learning rate lr; returns the batch's loss. */
    private interface BatchStep {
        float train(Tensor xb, Tensor yb, int rows, float lr);
    }

    /**
     * The training loop: o's epochs of seeded shuffled batches, each trained by {@code batchStep} at the
     * schedule's rate (counted from {@code firstStep}), timed and reported; after each epoch the validation accuracy.
     */
    private static History epochs(Backend backend, Classifier model, ImageDataset train, ImageDataset validation, Options o, Listener listener,
            LrSchedule schedule, long firstStep, java.util.function.LongSupplier peakStepBytes, BatchStep batchStep) {
        List<Double> losses = new ArrayList<>(), accs = new ArrayList<>();
        Batcher batcher = new Batcher(train, o.batchSize(), o.seed(), true);
        long globalStep = firstStep;
        double stepNanos = 0;
        long steps = 0, images = 0;
        try (Arena buffers = Arena.ofConfined()) {
            Tensor x = Tensor.zeros(buffers, DType.F32, o.batchSize(), train.pixelsPerImage());
            Tensor y = Tensor.zeros(buffers, DType.I32, o.batchSize());
            for (int epoch = 0; epoch < o.epochs(); epoch++) {
                model.module().train(true);
                int[] order = batcher.order(epoch);
                double lossSum = 0;
                long epochStart = System.nanoTime();
                for (int b = 0; b < batcher.batches(); b++) {
                    long t0 = System.nanoTime();
                    int rows = batcher.fill(order, b, x, y);
                    Tensor xb = rows == o.batchSize() ? x : x.view(0, 0, rows, train.pixelsPerImage());
                    Tensor yb = rows == o.batchSize() ? y : labelsPrefix(buffers, y, rows);
                    float loss = batchStep.train(xb, yb, rows, schedule.lr(globalStep++));
                    long dt = System.nanoTime() - t0;
                    stepNanos += dt;
                    steps++;
                    images += rows;
                    lossSum += loss;
                    listener.onStep(epoch, b, batcher.batches(), loss, rows / (dt / 1e9));
                }
                losses.add(lossSum / batcher.batches());
                double acc = validation == null ? Double.NaN : Evaluate.accuracy(backend, model, validation, 256);
                accs.add(acc);
                listener.onEpoch(epoch, losses.getLast(), acc, (System.nanoTime() - epochStart) / 1e9);
            }
        }
        double stepMs = steps == 0 ? 0 : stepNanos / steps / 1e6;
        return new History(losses, accs, stepMs, steps == 0 ? 0 : images / (stepNanos / 1e9), peakStepBytes.getAsLong(), null);
    }

    private static Tensor labelsPrefix(Arena arena, Tensor labels, int rows) {
        Tensor t = Tensor.zeros(arena, DType.I32, rows);
        for (int i = 0; i < rows; i++) t.setInt(i, labels.getInt(i));
        return t;
    }

    /** Trainable parameters of a model. */
    public static long trainable(Classifier model) {
        return model.module().namedParameters().values().stream().filter(Parameter::trainable).mapToLong(Parameter::numel).sum();
    }
}
