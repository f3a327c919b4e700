package org.tune4j.experiments;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Consumer;
import java.util.function.Function;
import org.tune4j.backend.Backend;
import org.tune4j.compress.Int8Quantization;
import org.tune4j.data.TextDataset;
import org.tune4j.data.TextTokenizer;
import org.tune4j.eval.EvaluateText;
import org.tune4j.io.BertAdapter;
import org.tune4j.io.BertCheckpoint;
import org.tune4j.io.HfCheckpoint;
import org.tune4j.io.SentencePipeline;
import org.tune4j.nn.BertClassifier;
import org.tune4j.nn.Lora;
import org.tune4j.train.TextTrainer;
import org.tune4j.train.Trainer;

/**
 * The text job: a pretrained BERT fine-tuned on a labelled text set four ways on the same budget, each seed
 * its own stratified train/test split and initialisation: LoRA (PEFT's defaults for BERT: r 8, alpha 16 on
 * query and value, the head trained), full fine-tuning, the head alone (the encoder frozen, the same loop on its pooled vectors), and
 * a linear probe (the head fitted to convergence on the frozen encoder's pooled vectors). Test accuracy of
 * each, the share of parameters trained, the time; optionally forgetting and the int8 model's accuracy ({@link Options}).
 */
public final class TextFinetuning {
    public enum Method { LORA, FULL, HEAD, PROBE }

    /**
     * The protocol. Learning rates per method, the usual ones for each (full fine-tuning's BERT rate, LoRA's 10x
     * higher). {@code forgetting}: a second labelled set (the Brown corpus's genres) on which a linear probe of the
     * encoder's vectors is fitted before and after fine-tuning, {@code forgettingSize} texts to fit and as many to
     * test; null for none. {@code int8}: after LoRA (merged) and full fine-tuning, every encoder projection is quantized to
     * int8 after calibrating on 128 training texts (a layer whose output error passes 5% stays f32) and tested again.
     * {@code adapterDir}: where the first seed's LoRA adapter and head are saved ({@link BertAdapter}), or null. {@code pooling}: how the
     * classifier and the probes pool the encoder's states (mean for sentence-transformers' models, [CLS] for BGE).
     */
    public record Options(List<Method> methods, List<Long> seeds, int trainSize, int testSize, int maxLength, int epochs, int batch, float loraLr, float fullLr,
            float headLr, Lora.Config lora, TextDataset forgetting, int forgettingSize, boolean int8, Path adapterDir, BertClassifier.Pooling pooling,
            int microBatches) {
        public Options {
            methods = List.copyOf(methods);
            seeds = List.copyOf(seeds);
            if (methods.isEmpty() || seeds.isEmpty()) throw new IllegalArgumentException("give at least one method and one seed");
            if (trainSize < 2 || testSize < 2) throw new IllegalArgumentException("train and test sizes must be >= 2: " + trainSize + ", " + testSize);
        }

        /**
         * The default run on a 2-core machine: 600 texts to train, 400 to test, 96 tokens, 4 epochs of batch 16, three seeds; no
         * forgetting probe. Two epochs left LoRA under-trained (1.7 points under full fine-tuning; BENCHMARKS.md, "BERT:
         * all-MiniLM-L6-v2"); four fit the 10 minutes since the training steps got faster.
         */
        public static Options defaults() {
            return new Options(List.of(Method.values()), List.of(1L, 2L, 3L), 600, 400, 96, 4, 16, 1e-3f, 5e-5f, 2e-3f,
                    new Lora.Config(8, 16f, 0.1f, false, List.of("query", "value"), List.of("classifier")), null, 0, true, null, BertClassifier.Pooling.MEAN, 1);
        }
    }

    /**
     * One method on one seed. {@code forgettingProbeAccuracy}: the genre probe's accuracy on the fine-tuned encoder (null when not
     * measured, or the encoder was frozen: the head and the probe leave it bit for bit as it was); {@code forgettingBase}: on the
     * pretrained encoder, same split. {@code seconds}: loading, training and the test; {@code int8Seconds}: the int8 step apart
     * (merging, calibrating, quantizing, the test; null where there was none).
     */
    public record Run(String method, long seed, double testAccuracy, long trainableParameters, long parameters, double seconds, double[] epochLosses,
            Double forgettingProbeAccuracy, Double forgettingBase, Double int8Accuracy, Long int8Layers, Double int8Seconds) {}

    /** {@code meanForgetting}: the probe's mean drop, base − fine-tuned, in points of accuracy (null when not measured). */
    public record Summary(String method, double meanAccuracy, double sdAccuracy, double trainablePercent, double meanSeconds, Double meanForgetting,
            Double sdForgetting, Double meanInt8Accuracy, Double meanInt8Seconds) {}

    public record Result(String model, String data, int trainSize, int testSize, int maxLength, List<Run> runs, List<Summary> summary) {}

    private TextFinetuning() {}

    /**
     * Every method and seed of {@code o}: training and the test accuracy on {@code backend} (each model moved into its
     * memory, a GPU's say); the adapter, the forgetting probes and int8 on the host (int8 is a CPU kernel).
     */
    public static Result run(Backend backend, Path modelDir, TextDataset data, Options o, Consumer<String> progress) throws IOException {
        return run(backend, modelDir, data, o, progress, run -> Trainer.Listener.NONE);
    }

    /**
     * {@link #run(Backend, Path, TextDataset, Options, Consumer)}, each trained run's steps and epochs told to the listener
     * {@code steps} gives for its name ("lora seed 1": a progress bar a run).
     */
    public static Result run(Backend backend, Path modelDir, TextDataset data, Options o, Consumer<String> progress, Function<String, Trainer.Listener> steps)
            throws IOException {
        Backend host = backend.host();
        // a length the positions cannot hold fails here, not in a forward minutes in (config.json alone: the weights load later)
        org.tune4j.nn.BertConfig config = HfCheckpoint.readBertConfig(modelDir);
        SentencePipeline.tokensKept(modelDir, o.maxLength(), config.maxPositions());
        List<Run> runs = new ArrayList<>();
        int trainSize = 0, testSize = 0;
        FrozenFeatures features = new FrozenFeatures();
        try (TextTokenizer tok = TextTokenizer.load(modelDir.resolve(HfCheckpoint.TOKENIZER), o.maxLength(), config.vocabSize())) {
            for (long seed : o.seeds()) {
                List<TextDataset> parts = data.stratifiedSplit(seed, new String[] {"train", "test"}, 0.7);
                TextDataset train = parts.get(0).sample(seed, o.trainSize()), test = parts.get(1).sample(seed, o.testSize());
                trainSize = train.size();
                testSize = test.size();
                if (trainSize == 0 || testSize == 0) {
                    throw new IllegalArgumentException(data.name() + ": its " + data.size() + " texts, split 70/30 in each class, leave " + trainSize + " to train and " + testSize
                            + " to test: too few (a class needs 2 texts to be in both)");
                }
                if (seed == o.seeds().get(0) && (trainSize < o.trainSize() || testSize < o.testSize())) {
                    progress.accept(String.format("%s holds fewer texts than asked: %d to train (asked %d), %d to test (asked %d), its %d texts split 70/30",
                            data.name(), trainSize, o.trainSize(), testSize, o.testSize(), data.size()));
                }
                int[][] trainIds = tok.ids(train.texts()), testIds = tok.ids(test.texts());
                Probe probe = null;
                if (o.forgetting() != null) {
                    List<TextDataset> fp = o.forgetting().stratifiedSplit(seed, new String[] {"fit", "test"}, 0.5);
                    TextDataset fit = fp.get(0).sample(seed, o.forgettingSize()), held = fp.get(1).sample(seed, o.forgettingSize());
                    probe = new Probe(tok.ids(fit.texts()), fit.labels(), tok.ids(held.texts()), held.labels(), o.forgetting().classes().size(), o.pooling(), Double.NaN);
                    try (Arena arena = Arena.ofShared()) {
                        probe = probe.withBase(probe.accuracy(host, BertCheckpoint.load(arena, modelDir), seed));
                    }
                    progress.accept(String.format("forgetting probe (%s, %d texts to fit, %d to test): %.4f on the pretrained encoder", o.forgetting().name(),
                            fit.size(), held.size(), probe.base()));
                }
                for (Method m : o.methods()) {
                    progress.accept(m.name().toLowerCase() + ", seed " + seed + ": " + train.size() + " texts to train, " + test.size() + " to test");
                    Path save = m == Method.LORA && seed == o.seeds().get(0) ? o.adapterDir() : null;
                    runs.add(one(backend, host, modelDir, m, seed, train.texts(), trainIds, train.labels(), test.texts(), testIds, test.labels(), data.classes(), o, probe, features,
                            save, progress, steps.apply(m.name().toLowerCase() + " seed " + seed)));
                }
            }
        }
        return new Result(modelDir.toString(), data.name(), trainSize, testSize, o.maxLength(), runs, summarize(o.methods(), runs));
    }

    /** The genre probe of one seed: its texts, and its accuracy on the pretrained encoder. */
    private record Probe(int[][] fitIds, int[] fitLabels, int[][] testIds, int[] testLabels, int classes, BertClassifier.Pooling pooling, double base) {
        Probe withBase(double b) {
            return new Probe(fitIds, fitLabels, testIds, testLabels, classes, pooling, b);
        }

        /** A linear probe fitted on {@code encoder}'s pooled vectors (300 full-batch AdamW epochs), its test accuracy. */
        double accuracy(Backend backend, org.tune4j.nn.BertModel encoder, long seed) {
            try (Arena arena = Arena.ofShared()) {
                BertClassifier p = new BertClassifier(arena, encoder, pooling, classes, new SplittableRandom(seed));
                p.trainHeadOnly();
                TextTrainer.fitHead(backend, p, EvaluateText.pooled(backend, p, fitIds, 32), fitLabels, 300, 1e-2f, 0f);
                return EvaluateText.accuracy(EvaluateText.predictPooled(backend, p, EvaluateText.pooled(backend, p, testIds, 32)), testLabels);
            }
        }
    }

    /**
     * One method on one seed. The head and the probe train on the frozen encoder's vectors from {@code features}, shared by
     * every run of the job: a run's seconds count only the vectors it was the first to need.
     */
    private static Run one(Backend backend, Backend host, Path modelDir, Method m, long seed, List<String> trainTexts, int[][] trainIds, int[] trainLabels,
            List<String> testTexts, int[][] testIds, int[] testLabels, List<String> classNames, Options o, Probe probe, FrozenFeatures features, Path saveAdapter,
            Consumer<String> progress, Trainer.Listener steps) throws IOException {
        int classes = classNames.size();
        long t0 = System.nanoTime(), vectorsBefore = features.computed();
        try (Arena arena = Arena.ofShared()) {
            SplittableRandom rng = new SplittableRandom(seed * 1000 + m.ordinal());
            BertClassifier model = new BertClassifier(arena, BertCheckpoint.load(arena, modelDir), o.pooling(), classes, rng);
            double[] losses = new double[0];
            switch (m) {
                case LORA -> Lora.inject(model, arena, o.lora(), rng);
                case FULL -> model.setTrainable(true);
                case HEAD, PROBE -> model.trainHeadOnly();
            }
            model.moveTo(backend.memory(), arena); // adapters and head made on the host join the encoder where the backend computes
            double acc;
            if (m == Method.HEAD || m == Method.PROBE) {
                float[][] trainVectors = features.pooled(backend, model, trainTexts, trainIds), testVectors = features.pooled(backend, model, testTexts, testIds);
                if (m == Method.PROBE) {
                    TextTrainer.fitHead(backend, model, trainVectors, trainLabels, 300, 1e-2f, 0f);
                } else {
                    var opts = new TextTrainer.Options(o.epochs(), o.batch(), 1, o.headLr(), 0.01f, 0.1f, 1.0, seed);
                    losses = TextTrainer.fitOnPooled(backend, model, trainVectors, trainIds, trainLabels, opts, line -> progress.accept("  " + line), steps);
                }
                acc = EvaluateText.accuracy(EvaluateText.predictPooled(backend, model, testVectors), testLabels);
            } else {
                float lr = m == Method.LORA ? o.loraLr() : o.fullLr();
                var opts = new TextTrainer.Options(o.epochs(), o.batch(), 1, lr, 0.01f, 0.1f, 1.0, seed).withMicroBatches(o.microBatches());
                losses = TextTrainer.fit(backend, model, trainIds, trainLabels, opts, line -> progress.accept("  " + line), steps);
                acc = EvaluateText.accuracy(EvaluateText.predict(backend, model, testIds, 32), testLabels);
            }
            model.moveTo(org.tune4j.tensor.Memory.HOST, arena);
            double seconds = (System.nanoTime() - t0) / 1e9;
            long vectors = features.computed() - vectorsBefore;
            progress.accept(String.format("  test accuracy %.4f (%.1f s)", acc, seconds));
            if (vectors > 0) progress.accept("  the frozen encoder's vectors of " + vectors + " texts computed in that time, kept for the job's head and probe runs");
            if (saveAdapter != null) {
                BertAdapter.save(saveAdapter, model, o.lora(), modelDir.toString(), classNames);
                progress.accept("  adapter (PEFT's layout) and head saved in " + saveAdapter);
            }
            long trainable = model.parameterCount(true), all = model.parameterCount(false);
            Double after = null;
            if (probe != null && (m == Method.LORA || m == Method.FULL)) {
                after = probe.accuracy(host, model.bert(), seed);
                progress.accept(String.format("  forgetting probe %.4f (pretrained %.4f)", after, probe.base()));
            }
            Double int8Acc = null, int8Seconds = null;
            Long int8Layers = null;
            if (o.int8() && (m == Method.LORA || m == Method.FULL)) {
                long q0 = System.nanoTime();
                model.namedModules().values().forEach(mod -> {
                    if (mod instanceof org.tune4j.nn.LoraLinear l && !l.merged()) l.merge(host);
                });
                int[][] calibration = java.util.Arrays.copyOf(trainIds, Math.min(128, trainIds.length));
                var q = Int8Quantization.quantize(arena, host, model, () -> EvaluateText.predict(host, model, calibration, 32), calibration.length,
                        new Int8Quantization.Options(List.of("query", "key", "value", "dense"), 0.05));
                int8Layers = q.quantizedLayers();
                int8Acc = EvaluateText.accuracy(EvaluateText.predict(host, model, testIds, 32), testLabels);
                int8Seconds = (System.nanoTime() - q0) / 1e9;
                progress.accept(String.format("  int8 (%d of %d projections): test accuracy %.4f (%.1f s: merging, calibrating, quantizing, the test)", q.quantizedLayers(),
                        q.layers().size(), int8Acc, int8Seconds));
            }
            return new Run(m.name().toLowerCase(), seed, acc, trainable, all, seconds, losses, after, probe == null ? null : probe.base(), int8Acc, int8Layers, int8Seconds);
        }
    }

    private static List<Summary> summarize(List<Method> methods, List<Run> runs) {
        List<Summary> out = new ArrayList<>();
        for (Method m : methods) {
            List<Run> rs = runs.stream().filter(r -> r.method().equals(m.name().toLowerCase())).toList();
            double mean = rs.stream().mapToDouble(Run::testAccuracy).average().orElse(Double.NaN);
            double var = rs.stream().mapToDouble(r -> (r.testAccuracy() - mean) * (r.testAccuracy() - mean)).sum() / Math.max(1, rs.size() - 1);
            List<Double> drops = rs.stream().filter(r -> r.forgettingProbeAccuracy() != null).map(r -> 100 * (r.forgettingBase() - r.forgettingProbeAccuracy())).toList();
            Double fMean = drops.isEmpty() ? null : drops.stream().mapToDouble(Double::doubleValue).average().orElseThrow();
            Double fSd = fMean == null ? null : Math.sqrt(drops.stream().mapToDouble(x -> (x - fMean) * (x - fMean)).sum() / Math.max(1, drops.size() - 1));
            out.add(new Summary(m.name().toLowerCase(), mean, Math.sqrt(var), 100.0 * rs.get(0).trainableParameters() / rs.get(0).parameters(),
                    rs.stream().mapToDouble(Run::seconds).average().orElse(Double.NaN), fMean, fSd, meanOf(rs, Run::int8Accuracy), meanOf(rs, Run::int8Seconds)));
        }
        return out;
    }

    /** The mean of a value the runs may lack, over those that have it; null where none has. */
    private static Double meanOf(List<Run> runs, java.util.function.Function<Run, Double> value) {
        List<Double> v = runs.stream().map(value).filter(x -> x != null).toList();
        return v.isEmpty() ? null : v.stream().mapToDouble(Double::doubleValue).average().orElseThrow();
    }
}
