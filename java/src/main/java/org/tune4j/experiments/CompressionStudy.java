package org.tune4j.experiments;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Function;
import org.tune4j.backend.Backend;
import org.tune4j.compress.Int8Quantization;
import org.tune4j.compress.Sensitivity;
import org.tune4j.compress.StructuredPruning;
import org.tune4j.data.FashionMnist;
import org.tune4j.data.ImageDataset;
import org.tune4j.eval.Evaluate;
import org.tune4j.io.ModelFile;
import org.tune4j.nn.CompressedLinear;
import org.tune4j.nn.Lora;
import org.tune4j.nn.VisionTransformer;
import org.tune4j.optim.AdamW;
import org.tune4j.optim.LrSchedule;
import org.tune4j.serve.Latency;
import org.tune4j.serve.Predictor;
import org.tune4j.train.Trainer;

/**
 * The main job's compression stage: the adapted f32 model is compressed onto the native kernels and each
 * variant measured as the adapted models were (shifted and clean accuracy, PGD, corruptions, calibration),
 * plus what only compression costs: the images of the shifted test set the f32 model got right and the
 * variant gets wrong (flips), batch-1 latency through a {@link Predictor}, and the weights' size.
 * Variants: int8 post-training quantization (every linear layer, calibrated on shifted training images);
 * 2:4 on the blocks' layers with a LoRA adapter trained over the pruned base to recover, kept unmerged;
 * and that 2:4 model in int8 (the blocks' kept weights on the int8 kernel's 2:4 packing, the patch
 * embedding and head dense int8). A per-layer sensitivity scan shows how
 * accuracy falls with unstructured sparsity.
 */
public final class CompressionStudy {
    /** The layers 2:4 prunes (the patch embedding's 49 inputs are not a multiple of 4; the head is tiny). */
    public static final List<String> BLOCK_LAYERS = List.of("qkv", "proj", "fc1", "fc2");

    /** {@code latencyCalls}: timed batch-1 calls per variant (after as many warm-up calls); 3,000 as {@code bench infer}, a p99 of 30 calls. */
    public record Options(int recoveryEpochs, int recoveryRank, float recoveryLr, int calibrationImages, int latencyCalls,
            double[] sparsities, int sensitivityImages) {
        public static Options defaults() {
            return new Options(3, 8, 2e-3f, 256, 3000, new double[] {0.25, 0.5, 0.75, 0.9}, 500);
        }
    }

    /** One compressed (or the f32) model and what it cost. */
    public record Variant(String name, String description, Adaptation.Evaluation evaluation, double flipRateVsF32, double p50Ms,
            double p99Ms, long weightBytes, List<Double> recoveryLoss, List<Double> recoveryValidationAccuracy) {}

    public record Report(String parent, List<Variant> variants, List<Sensitivity.Point> sensitivity, Int8Quantization.Result quantization,
            int latencyCalls) {}

    private CompressionStudy() {}

    /** Where the study saves variant {@code name}: "2:4+lora" → {@code out/2_4-lora.safetensors}. */
    public static Path modelFile(Path out, String name) {
        return out.resolve(name.replace(':', '_').replace('+', '-') + ".safetensors");
    }

    /** What every variant is measured against: the test sets, the f32 model's answers, the latency images. */
    private record Bench(Backend backend, ImageDataset targetTest, ImageDataset sourceTest, Adaptation.Baseline baseline, long seed,
            int[] f32Predictions, float[][] latencyImages, int latencyCalls, Path out) {}

    /**
     * Compresses the model saved at {@code parent} (the adapted f32 model, {@code parentEvaluation} its
     * measures); compressed models are saved under {@code out} as {@code <variant>.safetensors}.
     */
    public static Report run(Backend backend, FashionMnist.Source data, Path parent, Adaptation.Evaluation parentEvaluation,
            Adaptation.Options ao, Options o, Adaptation.Baseline baseline, Path out, Function<String, Trainer.Listener> listeners)
            throws IOException {
        ImageDataset.Split split = Adaptation.targetSplit(data, ao);
        ImageDataset targetTest = Adaptation.targetTest(data, ao.seed()), sourceTest = data.test();
        List<Variant> variants = new ArrayList<>();
        Bench bench;
        List<Sensitivity.Point> sensitivity;
        try (Arena arena = Arena.ofShared()) {
            VisionTransformer f32 = ModelFile.load(arena, parent);
            bench = new Bench(backend, targetTest, sourceTest, baseline, ao.seed(), Evaluate.predict(backend, f32, targetTest, 256), images(targetTest, 64),
                    o.latencyCalls(), out);
            Latency l = latency(bench, arena, f32);
            variants.add(new Variant("f32", "the adapted model, dense f32", parentEvaluation, 0, l.p50Ms(), l.p99Ms(), weightBytes(f32), List.of(),
                    List.of()));
            sensitivity = Sensitivity.scan(backend, f32, BLOCK_LAYERS, o.sparsities(), targetTest.first(o.sensitivityImages()));
        }
        Int8Quantization.Result quantization;
        try (Arena arena = Arena.ofShared()) {
            VisionTransformer vit = ModelFile.load(arena, parent);
            quantization = Int8Quantization.quantize(arena, backend, vit, split.train().first(o.calibrationImages()), Int8Quantization.Options.defaults(), 64);
            variants.add(measure(bench, arena, vit, "int8", "int8 weights per channel, activations per token (post-training, "
                    + quantization.quantizedLayers() + " of " + quantization.layers().size() + " layers)", List.of(), List.of()));
        }
        try (Arena arena = Arena.ofShared()) {
            VisionTransformer vit = ModelFile.load(arena, parent);
            StructuredPruning.prune(arena, backend, vit, BLOCK_LAYERS);
            Lora.inject(vit, arena, new Lora.Config(o.recoveryRank(), 2f * o.recoveryRank(), 0f, false, BLOCK_LAYERS, List.of("head")),
                    new SplittableRandom(ao.seed()));
            AdamW opt = AdamW.of(arena, vit.namedParameters(), 0.01f, ao.loraPlusRatio());
            long steps = (long) o.recoveryEpochs() * ((split.train().size() + ao.batchSize() - 1) / ao.batchSize());
            Trainer.History h = Trainer.fit(backend, vit, opt, LrSchedule.warmupCosine(o.recoveryLr(), Math.max(1, steps / 10), steps, o.recoveryLr() / 50),
                    split.train(), split.validation(), new Trainer.Options(o.recoveryEpochs(), ao.batchSize(), ao.seed(), 0f, 1.0).withMicroBatches(ao.microBatches()),
                    listeners.apply("2:4 recovery"));
            StructuredPruning.compress(arena, backend, vit, BLOCK_LAYERS);
            String what = "2:4 on the blocks' layers, a rank-" + o.recoveryRank() + " LoRA adapter trained " + o.recoveryEpochs()
                    + " epochs over the pruned base, unmerged";
            variants.add(measure(bench, arena, vit, "2:4+lora", what, h.trainLoss(), h.valAccuracy()));
            StructuredPruning.quantize(arena, backend, vit);
            Int8Quantization.quantize(arena, backend, vit, split.train().first(o.calibrationImages()),
                    new Int8Quantization.Options(List.of("patch_embed", "head"), 0.05), 64);
            variants.add(measure(bench, arena, vit, "2:4+lora+int8", what + "; the blocks' kept weights int8 (2:4 int8 kernel), patch embedding and head int8",
                    h.trainLoss(), h.valAccuracy()));
        }
        return new Report(parent.getFileName().toString(), variants, sensitivity, quantization, o.latencyCalls());
    }

    private static Variant measure(Bench b, Arena arena, VisionTransformer vit, String name, String description, List<Double> loss,
            List<Double> valAccuracy) throws IOException {
        ImageDataset targetTest = b.targetTest();
        Adaptation.Evaluation e = Adaptation.evaluate(b.backend(), vit, targetTest, b.sourceTest(), b.baseline().corruption(), b.baseline().predictions(),
                b.seed());
        int[] predicted = Evaluate.predict(b.backend(), vit, targetTest, 256);
        long flips = 0;
        for (int i = 0; i < predicted.length; i++) if (b.f32Predictions()[i] == targetTest.label(i) && predicted[i] != targetTest.label(i)) flips++;
        Latency l = latency(b, arena, vit);
        Adaptation.saveModel(modelFile(b.out(), name), vit, name, e.targetAccuracy(), e.sourceAccuracy());
        return new Variant(name, description, e, (double) flips / predicted.length, l.p50Ms(), l.p99Ms(), weightBytes(vit), loss, valAccuracy);
    }

    /** Bytes of the weights inference reads: compressed layers as stored, f32 parameters at 4 bytes. */
    private static long weightBytes(VisionTransformer vit) {
        long bytes = 0;
        for (var m : vit.namedModules().values()) if (m instanceof CompressedLinear c) bytes += c.weightBytes();
        for (var p : vit.namedParameters().values()) bytes += 4 * p.numel();
        return bytes;
    }

    /**
     * p50/p99 of single-image calls on one native thread (a service scales across requests, not inside a
     * batch of 1; on two cores the second thread's hand-offs cost more than they save at this size).
     */
    private static Latency latency(Bench b, Arena arena, VisionTransformer vit) {
        int threads = org.tune4j.backend.CpuBackend.threads();
        org.tune4j.backend.CpuBackend.setThreads(1);
        try (Predictor p = Predictor.of(b.backend(), arena, vit, new Predictor.Options(1, 1))) {
            return Latency.measure(b.latencyCalls(), i -> p.classify(b.latencyImages()[i % b.latencyImages().length]));
        } finally {
            org.tune4j.backend.CpuBackend.setThreads(threads);
        }
    }

    private static float[][] images(ImageDataset data, int n) {
        float[][] out = new float[Math.min(n, data.size())][];
        for (int i = 0; i < out.length; i++) out[i] = data.image(i);
        return out;
    }
}
