package org.tune4j.experiments;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Consumer;
import java.util.function.Function;
import org.tune4j.autograd.Workspace;
import org.tune4j.backend.Backend;
import org.tune4j.compress.Int8Quantization;
import org.tune4j.compress.StructuredPruning;
import org.tune4j.data.SpamAssassin;
import org.tune4j.data.TextDataset;
import org.tune4j.data.TextTokenizer;
import org.tune4j.eval.EvaluateText;
import org.tune4j.io.BertAdapter;
import org.tune4j.io.BertCheckpoint;
import org.tune4j.nn.BertClassifier;
import org.tune4j.nn.Lora;
import org.tune4j.robust.TextEvasion;
import org.tune4j.train.TextTrainer;
import org.tune4j.train.Trainer;

/**
 * The compression part of {@link TextRobustness} (ARCHITECTURE.md "Robustness of the text model"): the fine-tuned spam
 * filter in f32, int8, 2:4 with LoRA recovery, and int8 2:4, each measured the same way.
 */
public final class TextCompression {
    private TextCompression() {}

    /**
     * One model of the compression study: test accuracy, accuracy on the newer era (its drift), evasion success by budget on
     * the same spam texts for every variant, batch-1 latency on the longest test text (the model's window, 96 tokens by default; median of
     * 30 calls in this process, on the threads the run has), and the evidence gate against f32 (null for f32).
     */
    public record Variant(String name, String what, double accuracy, double newerAccuracy, int attacked, Map<Integer, Double> evasionSuccess, double batch1Ms,
            Map<String, Object> gate) {}

    /** Every projection of the encoder: what int8 and 2:4 compress. */
    static final List<String> PROJECTIONS = List.of("query", "key", "value", "dense");

    /**
     * The compression study on the host (int8 and 2:4 are CPU kernels): f32 (the LoRA model as trained), int8 post-training
     * quantization of it (adapter merged; per-channel weights, per-token activations, calibrated on 128 training texts, a
     * projection whose output error passes 5% stays f32), 2:4 (every projection of the pretrained encoder pruned, then LoRA r 8
     * on every projection fine-tuned on the same data to recover, kept unmerged), and both (that model's 2:4 weights int8).
     * {@code trainIds}, {@code testIds}, {@code streamIds}: the sets' token ids; {@code pred}, {@code streamPred}: the f32 model's
     * predictions on {@code test} and {@code stream}, already made.
     */
    static List<Variant> run(Backend host, Path modelDir, TextTokenizer tok, BertClassifier f32, TextDataset train, int[][] trainIds, TextDataset test, int[][] testIds,
            TextDataset stream, int[][] streamIds, int[] pred, int[] streamPred, long seed, TextRobustness.Options o, Consumer<String> progress,
            Function<String, Trainer.Listener> steps) throws IOException {
        List<Integer> spam = TextRobustness.caughtSpam(test, pred);
        java.util.Collections.shuffle(spam, new java.util.Random(seed + 5));
        TextDataset targets = test.select("attacked spam", spam.subList(0, Math.min(o.compressionAttacked(), spam.size())));
        int[] batch1Ids = longest(testIds, tok.maxLength());
        List<Variant> out = new ArrayList<>();
        Path adapter = Files.createTempDirectory("tune4j-adapter");
        try (Arena arena = Arena.ofShared(); Workspace ws = new Workspace()) {
            out.add(variant("f32", "the LoRA model as trained (r 8 on query and value)", host, ws, f32, tok, targets, test, stream, pred, streamPred, batch1Ids, null, o));
            BertAdapter.save(adapter, f32, o.lora(), modelDir.toString(), SpamAssassin.CLASSES);
            BertClassifier q = BertAdapter.load(arena, modelDir, adapter).model();
            Lora.fold(q, host);
            int[][] calibration = Arrays.copyOf(trainIds, Math.min(128, train.size()));
            var r = Int8Quantization.quantize(arena, host, q, () -> EvaluateText.predict(host, q, calibration, TextRobustness.BATCH, ws), calibration.length,
                    new Int8Quantization.Options(PROJECTIONS, 0.05));
            out.add(variant("int8", "post-training, " + r.quantizedLayers() + " of " + r.layers().size() + " projections int8", host, ws, q, tok, targets, test, stream, testIds,
                    streamIds, batch1Ids, pred, o));
            progress.accept(line(out.getLast()));

            SplittableRandom rng = new SplittableRandom(seed * 1000 + 24);
            BertClassifier sparse = new BertClassifier(arena, BertCheckpoint.load(arena, modelDir), o.pooling(), 2, rng);
            StructuredPruning.prune(arena, host, sparse, PROJECTIONS);
            Lora.Config recovery = new Lora.Config(o.lora().r(), o.lora().alpha(), o.lora().dropout(), false, PROJECTIONS, List.of("classifier"));
            Lora.inject(sparse, arena, recovery, rng);
            progress.accept("2:4: every projection pruned, LoRA r " + recovery.r() + " on all of them trained to recover");
            TextTrainer.fit(host, sparse, trainIds, train.labels(), new TextTrainer.Options(o.epochs(), 16, 1, o.lr(), 0.01f, 0.1f, 1.0, seed), l -> progress.accept("  " + l),
                    steps.apply("2:4 recovery seed " + seed));
            StructuredPruning.compress(arena, host, sparse, PROJECTIONS);
            out.add(variant("2:4", "2:4 on every projection, LoRA recovery unmerged", host, ws, sparse, tok, targets, test, stream, testIds, streamIds, batch1Ids, pred, o));
            progress.accept(line(out.getLast()));
            StructuredPruning.quantize(arena, host, sparse);
            out.add(variant("int8 2:4", "the 2:4 model's kept weights int8", host, ws, sparse, tok, targets, test, stream, testIds, streamIds, batch1Ids, pred, o));
            progress.accept(line(out.getLast()));
        } finally {
            org.tune4j.io.Folders.deleteTree(adapter);
        }
        return out;
    }

    private static String line(Variant v) {
        return String.format("compression, %s: accuracy %.4f, newer era %.4f, evasion %s, batch 1 %.2f ms; the gate against f32: %s", v.name(), v.accuracy(), v.newerAccuracy(),
                ProgressText.byEdits(v.evasionSuccess()), v.batch1Ms(), Boolean.TRUE.equals(v.gate().get("passed")) ? "passes" : "fails " + v.gate().get("reasons"));
    }

    /** A compressed model: its predictions on the test and the newer era made here. */
    private static Variant variant(String name, String what, Backend host, Workspace ws, BertClassifier m, TextTokenizer tok, TextDataset targets, TextDataset test, TextDataset stream,
            int[][] testIds, int[][] streamIds, int[] batch1Ids, int[] f32Predictions, TextRobustness.Options o) {
        int[] pred = EvaluateText.predict(host, m, testIds, TextRobustness.BATCH, ws), streamPred = EvaluateText.predict(host, m, streamIds, TextRobustness.BATCH, ws);
        return variant(name, what, host, ws, m, tok, targets, test, stream, pred, streamPred, batch1Ids, f32Predictions, o);
    }

    /** A model measured from its predictions on the test ({@code pred}) and the newer era ({@code streamPred}). */
    private static Variant variant(String name, String what, Backend host, Workspace ws, BertClassifier m, TextTokenizer tok, TextDataset targets, TextDataset test,
            TextDataset stream, int[] pred, int[] streamPred, int[] batch1Ids, int[] f32Predictions, TextRobustness.Options o) {
        double acc = EvaluateText.accuracy(pred, test.labels());
        double newer = EvaluateText.accuracy(streamPred, stream.labels());
        int maxBudget = o.budgets().stream().mapToInt(Integer::intValue).max().orElseThrow();
        List<TextEvasion.Attack> attacks = TextEvasion.attack(targets.texts(), targets.labels(), TextRobustness.probabilities(host, m, tok, ws),
                new TextEvasion.Options(maxBudget, o.maxLength() * 2 / 3));
        // batch 1 as a service runs it: on memory kept from call to call
        double[] ms = new double[30];
        int[][] one = {batch1Ids};
        for (int i = 0; i < 5; i++) EvaluateText.predict(host, m, one, 1, ws);
        for (int i = 0; i < ms.length; i++) {
            long t = System.nanoTime();
            EvaluateText.predict(host, m, one, 1, ws);
            ms[i] = (System.nanoTime() - t) / 1e6;
        }
        Map<Integer, Double> success = new LinkedHashMap<>();
        for (int b : o.budgets()) success.put(b, TextEvasion.successRate(attacks, b));
        Arrays.sort(ms);
        Map<String, Object> gate = f32Predictions == null ? null : TextRobustness.gate(test, f32Predictions, pred);
        return new Variant(name, what, acc, newer, (int) attacks.stream().filter(TextEvasion.Attack::attacked).count(), success, ms[ms.length / 2], gate);
    }

    /** The first of the test texts' ids that fills the window of {@code maxLength} tokens (the longest when none does). */
    private static int[] longest(int[][] testIds, int maxLength) {
        int[] best = new int[0];
        for (int[] ids : testIds) {
            if (ids.length > best.length) best = ids;
            if (ids.length >= maxLength) break;
        }
        return best;
    }

}
