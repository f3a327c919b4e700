package org.tune4j.experiments;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Function;
import org.tune4j.autograd.Parameter;
import org.tune4j.backend.Backend;
import org.tune4j.data.DomainShift;
import org.tune4j.data.FashionMnist;
import org.tune4j.data.ImageDataset;
import org.tune4j.eval.Evaluate;
import org.tune4j.io.ModelFile;
import org.tune4j.io.PeftAdapter;
import org.tune4j.nn.Classifier;
import org.tune4j.nn.IntruderDimensions;
import org.tune4j.nn.Lora;
import org.tune4j.nn.LoraLinear;
import org.tune4j.nn.VisionTransformer;
import org.tune4j.optim.AdamW;
import org.tune4j.optim.LrSchedule;
import org.tune4j.tensor.Tensor;
import org.tune4j.train.Trainer;

/**
 * The main job: a ViT pretrained on clean Fashion-MNIST is adapted to a shifted target domain
 * ({@link DomainShift}) from a few thousand labelled target images, three ways with the same budget
 * (epochs, batch, schedule shape): LoRA on the attention and MLP projections (plus the head), full
 * fine-tuning, and the head alone. Each is measured on the shifted test set (target), the clean test set
 * (what was forgotten), and by its trainable parameters, training memory, step time and images/s.
 */
public final class Adaptation {
    /**
     * The experiment's settings. {@code adversarial} adds a fourth run, "lora-adv": LoRA trained on a
     * clean/adversarial mix (half of each batch attacked) at {@code loraAdvLr} — null leaves it out.
     */
    public record Options(int targetTrain, int targetValidation, int epochs, int batchSize, long seed, Lora.Config lora,
            float loraLr, float loraAdvLr, float loraPlusRatio, float fullLr, float headLr, org.tune4j.robust.Attacks.Pgd adversarial, int rehearsal,
            int microBatches) {
        /**
         * LoRA's, full fine-tuning's and the head's learning rates are the best of a sweep by target
         * validation accuracy (bench/experiments/LrSweep.java, BENCHMARKS.md); the adversarial LoRA run's
         * (1e-3) is the one issue 5's robustness figures were tuned and measured at.
         */
        public static Options defaults() {
            return new Options(4000, 500, 4, 64, 7, new Lora.Config(4, 8f, 0f, false, List.of("qkv", "proj", "fc1", "fc2"), List.of()),
                    3e-3f, 1e-3f, 8f, 1e-3f, 3e-2f, new org.tune4j.robust.Attacks.Pgd(0.1f, 0.125f, 1, true), 0, 1);
        }

        /** These options with each batch as {@code parts} micro-batches ({@link Trainer.Options#microBatches}). */
        public Options withMicroBatches(int parts) {
            return new Options(targetTrain, targetValidation, epochs, batchSize, seed, lora, loraLr, loraAdvLr, loraPlusRatio, fullLr, headLr, adversarial,
                    rehearsal, parts);
        }
    }

    /**
     * What every method trains on: the shifted training split, plus {@code o.rehearsal()} clean source
     * training images (rehearsal against forgetting, off by default), taken after the ones the target
     * split was made from, so that no image appears twice.
     */
    public static ImageDataset adaptationSet(FashionMnist.Source data, ImageDataset.Split split, Options o) {
        if (o.rehearsal() <= 0) return split.train();
        int from = o.targetTrain() + o.targetValidation(), available = data.train().size() - from;
        if (o.rehearsal() > available) throw new IllegalArgumentException("rehearsal of " + o.rehearsal() + " clean images: only " + available + " are left after the target's");
        return split.train().concat(data.train().range(from, from + o.rehearsal()));
    }

    /**
     * How a model fares: accuracy on the shifted (target) and clean (source) test sets, ECE on the target,
     * PGD-20 accuracy on the first target test images at ε 0.05 (500 images) and 0.1 (1000 images), the
     * mean error over the corruption suite on the first 500 clean test images and its mCE against the
     * pretrained model, and the negative flip rate against the pretrained model on the clean test set.
     */
    public record Evaluation(double targetAccuracy, double sourceAccuracy, double targetEce, double pgd005, double pgd01,
            double corruptionError, double mce, double negativeFlipRateSource, Map<String, double[]> corruptionErrors,
            org.tune4j.robust.Calibration.Bin[] reliability) {}

    /** One method's outcome; {@code intruderDimensions}: summed over the LoRA target layers, see {@link IntruderDimensions}. */
    public record MethodResult(String method, Evaluation evaluation, long trainableParameters, long totalParameters, double peakMemoryMib,
            double stepMillis, double imagesPerSecond, double seconds, List<Double> trainLoss, List<Double> validationAccuracy,
            int intruderDimensions) {
        public double targetAccuracy() {
            return evaluation.targetAccuracy();
        }

        public double sourceAccuracy() {
            return evaluation.sourceAccuracy();
        }
    }

    /** The whole experiment. */
    public record Report(String data, int targetTrainImages, int targetTestImages, Evaluation pretrained, List<MethodResult> methods) {}

    private Adaptation() {}

    /** What the pretrained model does, that every other is compared with: its corruption errors and its clean-test predictions. */
    public record Baseline(org.tune4j.robust.CorruptionReport.Errors corruption, int[] predictions, Evaluation evaluation) {}

    /** The pretrained model measured once, on {@code backend} (the model moved into its memory). */
    public static Baseline baseline(Backend backend, FashionMnist.Source data, Path checkpoint, long seed) throws IOException {
        ImageDataset sourceTest = data.test();
        try (Arena arena = Arena.ofShared()) {
            VisionTransformer base = ModelFile.load(arena, checkpoint);
            base.moveTo(backend.memory(), arena);
            var corruption = org.tune4j.robust.CorruptionReport.errors(backend, base, sourceTest.first(500), seed);
            int[] predictions = Evaluate.predict(backend, base, sourceTest, 256);
            return new Baseline(corruption, predictions, evaluate(backend, base, targetTest(data, seed), sourceTest, corruption, predictions, seed));
        }
    }

    /** The shifted training images and the validation split every method adapts from. */
    public static ImageDataset.Split targetSplit(FashionMnist.Source data, Options o) {
        ImageDataset target = DomainShift.apply(data.train().first(o.targetTrain() + o.targetValidation()), o.seed());
        return target.split(o.targetValidation(), o.seed());
    }

    /**
     * Runs every method on {@code backend} (training and measures; each model moved into its memory, and back to the
     * host for the adapter, the merge, the intruder count and the checkpoint); the LoRA adapter is saved in PEFT's
     * layout under {@code out/lora-adapter}.
     */
    public static Report run(Backend backend, FashionMnist.Source data, Path checkpoint, Options o, Path out,
            Function<String, Trainer.Listener> listeners, Baseline baseline) throws IOException {
        Backend host = backend.host();
        ImageDataset.Split split = targetSplit(data, o);
        ImageDataset train = adaptationSet(data, split, o);
        ImageDataset targetTest = targetTest(data, o.seed());
        ImageDataset sourceTest = data.test();
        List<MethodResult> results = new ArrayList<>();
        Evaluation pre = baseline.evaluation();
        org.tune4j.robust.CorruptionReport.Errors baseCorruption = baseline.corruption();
        int[] basePredictions = baseline.predictions();
        List<String> methods = new ArrayList<>(List.of("lora", "full", "head"));
        if (o.adversarial() != null) methods.add("lora-adv");
        for (String method : methods) {
            try (Arena arena = Arena.ofShared()) {
                VisionTransformer vit = ModelFile.load(arena, checkpoint);
                float lr = switch (method) {
                    case "lora" -> o.loraLr();
                    case "lora-adv" -> o.loraAdvLr();
                    case "full" -> o.fullLr();
                    default -> o.headLr();
                };
                long t0 = System.nanoTime();
                Adapted adapted = adapt(backend, arena, vit, method, lr, o.lora(), o, train, split.validation(), listeners.apply(method));
                Map<String, LoraLinear> adapters = adapted.adapters();
                Trainer.History h = adapted.history();
                double seconds = (System.nanoTime() - t0) / 1e9;
                Evaluation ev = evaluate(backend, vit, targetTest, sourceTest, baseCorruption, basePredictions, o.seed());
                vit.moveTo(org.tune4j.tensor.Memory.HOST, arena);
                double targetAcc = ev.targetAccuracy(), sourceAcc = ev.sourceAccuracy();
                if (method.startsWith("lora")) {
                    saveAdapter(out.resolve(method + "-adapter"), o.lora(), adapters);
                    adapters.values().forEach(a -> a.merge(host)); // the checkpoint holds the merged weights
                }
                int intruders = IntruderDimensions.count(ModelFile.load(arena, checkpoint), vit, o.lora().targetModules());
                results.add(new MethodResult(method, ev, vit.parameterCount(true), vit.parameterCount(false),
                        trainingMemory(vit, h) / (1024.0 * 1024.0), h.meanStepMillis(), h.imagesPerSecond(), seconds, h.trainLoss(), h.valAccuracy(),
                        intruders));
                saveModel(out.resolve(method + ".safetensors"), vit, method, targetAcc, sourceAcc);
            }
        }
        return new Report(data.description(), split.train().size(), targetTest.size(), pre, results);
    }

    /** A model adapted by {@link #adapt}: its LoRA adapters by module path (none unless LoRA) and its training history. */
    public record Adapted(Map<String, LoraLinear> adapters, Trainer.History history) {}

    /**
     * Adapts {@code vit} in place by {@code method} with the experiment's budget ({@code o}'s epochs, batch,
     * seed; warmup over a tenth of the steps, then cosine to lr/50; AdamW, weight decay 0.01): "lora" and
     * "lora-adv" inject {@code lora} adapters (LoRA+ at {@code o}'s ratio; "lora-adv" trains half of each
     * batch on {@code o}'s attack), "full" trains everything, "head" only the head.
     */
    public static Adapted adapt(Backend backend, Arena arena, VisionTransformer vit, String method, float lr, Lora.Config lora, Options o,
            ImageDataset train, ImageDataset validation, Trainer.Listener listener) {
        Map<String, LoraLinear> adapters = Map.of();
        switch (method) {
            case "lora", "lora-adv" -> adapters = Lora.inject(vit, arena, lora, new SplittableRandom(o.seed()));
            case "full" -> {}
            case "head" -> {
                vit.setTrainable(false);
                vit.namedModules().get("head").setTrainable(true);
            }
            default -> throw new IllegalArgumentException("unknown method '" + method + "': use lora, lora-adv, full or head");
        }
        long steps = (long) o.epochs() * ((train.size() + o.batchSize() - 1) / o.batchSize());
        LrSchedule schedule = LrSchedule.warmupCosine(lr, Math.max(1, steps / 10), steps, lr / 50);
        Trainer.Options options = new Trainer.Options(o.epochs(), o.batchSize(), o.seed(), 0f, 1.0, method.equals("lora-adv") ? o.adversarial() : null, 0.5)
                .withMicroBatches(o.microBatches());
        vit.moveTo(backend.memory(), arena); // adapters made on the host join the weights where the backend computes
        AdamW opt = AdamW.of(arena, vit.namedParameters(), 0.01f, method.startsWith("lora") ? o.loraPlusRatio() : 1f);
        return new Adapted(adapters, Trainer.fit(backend, vit, opt, schedule, train, validation, options, listener));
    }

    /**
     * The measures of {@link Evaluation} for {@code vit}; corruption errors relative to {@code baseCorruption},
     * negative flips against {@code basePredictions} on the clean test set.
     */
    public static Evaluation evaluate(Backend backend, Classifier vit, ImageDataset targetTest, ImageDataset sourceTest,
            org.tune4j.robust.CorruptionReport.Errors baseCorruption, int[] basePredictions, long seed) {
        int[] target = Evaluate.predict(backend, vit, targetTest, 256), source = Evaluate.predict(backend, vit, sourceTest, 256);
        long rightT = 0, rightS = 0, flips = 0;
        for (int i = 0; i < target.length; i++) if (target[i] == targetTest.label(i)) rightT++;
        for (int i = 0; i < source.length; i++) {
            if (source[i] == sourceTest.label(i)) rightS++;
            if (basePredictions[i] == sourceTest.label(i) && source[i] != sourceTest.label(i)) flips++;
        }
        var calibration = org.tune4j.robust.Calibration.of(confidences(backend, vit, targetTest), correct(target, targetTest));
        double ece = calibration.ece();
        ImageDataset pgdSmall = targetTest.first(500), pgdLarge = targetTest.first(1000);
        double pgd005 = org.tune4j.robust.Attacks.robustAccuracy(backend, vit, pgdSmall, org.tune4j.robust.Attacks.Pgd.standard(0.05f, 20), 100, seed);
        double pgd01 = org.tune4j.robust.Attacks.robustAccuracy(backend, vit, pgdLarge, org.tune4j.robust.Attacks.Pgd.standard(0.1f, 20), 100, seed);
        var corruption = org.tune4j.robust.CorruptionReport.errors(backend, vit, sourceTest.first(500), seed);
        double mce = org.tune4j.robust.CorruptionReport.relative(corruption, baseCorruption).get("mCE");
        Map<String, double[]> byKind = new LinkedHashMap<>();
        corruption.error().forEach((kind, errors) -> byKind.put(kind.name().toLowerCase(java.util.Locale.ROOT), errors));
        return new Evaluation((double) rightT / target.length, (double) rightS / source.length, ece, pgd005, pgd01, corruption.mean(), mce,
                (double) flips / source.length, byKind, calibration.bins());
    }

    private static double[] confidences(Backend backend, Classifier vit, ImageDataset data) {
        double[] out = new double[data.size()];
        try (Arena arena = Arena.ofConfined()) {
            org.tune4j.data.Batcher batcher = new org.tune4j.data.Batcher(data, 256, 0, false);
            int[] order = batcher.order(0);
            var x = org.tune4j.tensor.Tensor.zeros(arena, org.tune4j.tensor.DType.F32, 256, data.pixelsPerImage());
            var y = org.tune4j.tensor.Tensor.zeros(arena, org.tune4j.tensor.DType.I32, 256);
            for (int b = 0; b < batcher.batches(); b++) {
                int rows = batcher.fill(order, b, x, y);
                float[][] p = org.tune4j.robust.Predictions.probabilities(backend, vit, rows == 256 ? x : x.view(0, 0, rows, data.pixelsPerImage()));
                for (int r = 0; r < rows; r++) {
                    float best = 0;
                    for (float v : p[r]) best = Math.max(best, v);
                    out[b * 256 + r] = best;
                }
            }
        }
        return out;
    }

    private static boolean[] correct(int[] predicted, ImageDataset data) {
        boolean[] ok = new boolean[predicted.length];
        for (int i = 0; i < ok.length; i++) ok[i] = predicted[i] == data.label(i);
        return ok;
    }

    /** Parameters, the gradients and AdamW moments of the trainable ones, and the largest step's activations. */
    private static long trainingMemory(VisionTransformer vit, Trainer.History h) {
        long bytes = h.peakStepBytes();
        for (Parameter p : vit.namedParameters().values()) bytes += p.numel() * 4 * (p.trainable() ? 4 : 1);
        return bytes;
    }

    /** The adapted model as a ViT checkpoint ({@link ModelFile#save}), with the method and its accuracies in the metadata. */
    public static void saveModel(Path file, VisionTransformer vit, String method, double target, double source) throws IOException {
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("adapted_by", method);
        meta.put("target_accuracy", String.format("%.4f", target));
        meta.put("source_accuracy", String.format("%.4f", source));
        ModelFile.save(file, vit, meta);
    }

    /** The adapters in PEFT's layout; PiSSA's converted to plain LoRA of rank 2r over the shipped model (see {@link LoraLinear#asPlainLora}). */
    public static void saveAdapter(Path dir, Lora.Config c, Map<String, LoraLinear> adapters) throws IOException {
        Map<String, PeftAdapter.Lora> modules = new LinkedHashMap<>();
        try (Arena converted = Arena.ofConfined()) {
            adapters.forEach((path, l) -> {
                Tensor[] ab = l.asPlainLora(converted);
                modules.put(path, new PeftAdapter.Lora(ab[0], ab[1], l.magnitude() == null ? null : l.magnitude().value()));
            });
            int r = c.pissa() ? 2 * c.r() : c.r();
            float alpha = !c.pissa() ? c.alpha() : c.rsLora() ? (float) (c.alpha() * Math.sqrt(2)) : 2 * c.alpha();
            PeftAdapter.save(dir, new PeftAdapter.Config(r, alpha, c.dropout(), c.targetModules(), c.rsLora(), "tune4j/vit-fmnist", c.useDora()), modules);
        }
    }

    /** The shifted test images every method is measured on. */
    public static ImageDataset targetTest(FashionMnist.Source data, long seed) {
        return DomainShift.apply(data.test(), seed + 1);
    }
}
