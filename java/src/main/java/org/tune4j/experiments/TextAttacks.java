package org.tune4j.experiments;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.tune4j.autograd.Workspace;
import org.tune4j.backend.Backend;
import org.tune4j.data.TextDataset;
import org.tune4j.data.TextTokenizer;
import org.tune4j.eval.EvaluateText;
import org.tune4j.experiments.TextRobustness.Detection;
import org.tune4j.experiments.TextRobustness.Evasion;
import org.tune4j.experiments.TextRobustness.Options;
import org.tune4j.experiments.TextRobustness.Poison;
import org.tune4j.nn.BertClassifier;
import org.tune4j.robust.Poisoning;
import org.tune4j.robust.TextEvasion;
import org.tune4j.robust.TextNormalizer;
import org.tune4j.tensor.Memory;
import org.tune4j.train.Trainer;

/**
 * The two attacks of the text robustness study ({@link TextRobustness}): evasion (character edits against the
 * deployed model, through Unicode normalisation, and against a FreeLB-trained model) and poisoning (a trigger phrase
 * in relabelled training spam, its detection and the retraining without what is flagged).
 */
final class TextAttacks {
    private TextAttacks() {}

    static Evasion evasion(Backend backend, Workspace ws, Path modelDir, BertClassifier model, TextTokenizer tok, TextDataset train, int[][] trainIds, TextDataset test,
            int[][] testIds, EvaluateText.Outputs testOut, Options o, long seed, Consumer<String> progress,
            Function<String, Trainer.Listener> steps) throws IOException {
        List<Integer> spam = TextRobustness.caughtSpam(test, testOut.predicted());
        java.util.Collections.shuffle(spam, new java.util.Random(seed));
        TextDataset targets = test.select("attacked spam", spam.subList(0, Math.min(o.attacked(), spam.size())));
        int maxBudget = o.budgets().stream().mapToInt(Integer::intValue).max().orElseThrow();
        TextEvasion.Options aopt = new TextEvasion.Options(maxBudget, o.maxLength() * 2 / 3);
        Function<List<String>, float[][]> plain = TextRobustness.probabilities(backend, model, tok, ws);
        Function<List<String>, float[][]> normalized = texts -> plain.apply(texts.stream().map(TextNormalizer::normalize).toList());
        List<TextEvasion.Attack> attacks = TextEvasion.attack(targets.texts(), targets.labels(), plain, aopt);
        List<TextEvasion.Attack> adaptive = TextEvasion.attack(targets.texts(), targets.labels(), normalized, aopt);
        // the plain attack's successful edits, passed through the normaliser before the model
        Map<Integer, Double> transfer = new LinkedHashMap<>(), success = new LinkedHashMap<>(), adaptiveSuccess = new LinkedHashMap<>();
        for (int b : o.budgets()) {
            success.put(b, TextEvasion.successRate(attacks, b));
            adaptiveSuccess.put(b, TextEvasion.successRate(adaptive, b));
            List<String> edited = new ArrayList<>();
            for (TextEvasion.Attack a : attacks) if (a.succeededWithin(b)) edited.add(a.edited());
            long attacked = attacks.stream().filter(TextEvasion.Attack::attacked).count();
            int still = 0;
            if (!edited.isEmpty()) for (int p : EvaluateText.predict(backend, model, tok.ids(edited.stream().map(TextNormalizer::normalize).toList()), TextRobustness.BATCH, ws)) if (p == 0) still++;
            transfer.put(b, attacked == 0 ? Double.NaN : (double) still / attacked);
        }
        Map<String, Integer> used = new LinkedHashMap<>();
        List<String> examples = new ArrayList<>();
        for (TextEvasion.Attack a : attacks) {
            if (a.editsToFlip() == 0) continue;
            for (TextEvasion.Edit e : a.edits()) used.merge(e.name().toLowerCase(), 1, Integer::sum);
            if (examples.size() < 5) examples.add(String.format("%d edits (%s), p(spam) %.3f -> %.3f: \"%s\"", a.editsToFlip(), a.edits(), a.trueProbabilityBefore(),
                    a.trueProbabilityAfter(), TextRobustness.cut(visible(a.edited()))));
        }
        Double advAcc = null;
        Integer advAttacked = null;
        Map<Integer, Double> advSuccess = null;
        Map<String, Object> gate = null;
        if (o.adversarial() != null) {
            try (Arena arena = Arena.ofShared()) {
                progress.accept("adversarial fine-tuning (FreeLB: " + ProgressText.freeLb(o.adversarial()) + ")");
                BertClassifier robust = TextRobustness.train(backend, arena, modelDir, trainIds, train.labels(), seed, o, o.adversarial(), progress,
                        steps.apply("freelb seed " + seed));
                int[] advPred = EvaluateText.predict(backend, robust, testIds, TextRobustness.BATCH, ws);
                advAcc = EvaluateText.accuracy(advPred, test.labels());
                gate = TextRobustness.gate(test, testOut.predicted(), advPred);
                List<TextEvasion.Attack> onRobust = TextEvasion.attack(targets.texts(), targets.labels(), TextRobustness.probabilities(backend, robust, tok, ws), aopt);
                advAttacked = (int) onRobust.stream().filter(TextEvasion.Attack::attacked).count();
                advSuccess = new LinkedHashMap<>();
                for (int b : o.budgets()) advSuccess.put(b, TextEvasion.successRate(onRobust, b));
                robust.moveTo(Memory.HOST, arena);
            }
        }
        return new Evasion((int) attacks.stream().filter(TextEvasion.Attack::attacked).count(), success, transfer, adaptiveSuccess, used, examples, advAcc, advAttacked,
                advSuccess, gate);
    }

    /** {@code cleanPredicted}: the clean model's predictions on {@code test}. */
    static Poison poison(Backend backend, Workspace ws, Path modelDir, TextTokenizer tok, TextDataset train, TextDataset test, int[][] testIds, BertClassifier clean,
            int[] cleanPredicted,
            double cleanAcc, long seed, Options o, Consumer<String> progress, Function<String, Trainer.Listener> steps) throws IOException {
        int count = (int) Math.round(o.poisonShare() * train.size());
        Poisoning.Poisoned p = Poisoning.poison(train.texts(), train.labels(), 1, 0, o.trigger(), count, seed);
        // triggered test spam that the clean model catches untriggered: the attack succeeds when it is called ham
        List<Integer> spamIdx = TextRobustness.caughtSpam(test, cleanPredicted);
        SplittableRandom rng = new SplittableRandom(seed + 99);
        List<String> triggered = spamIdx.stream().map(i -> Poisoning.insert(test.texts().get(i), o.trigger(), rng)).toList();
        int[][] trigIds = tok.ids(triggered);
        double cleanFlip = hamShare(EvaluateText.predict(backend, clean, trigIds, TextRobustness.BATCH, ws));
        try (Arena arena = Arena.ofShared()) {
            int[][] pIds = tok.ids(p.texts());
            progress.accept("poisoning: " + count + " of " + train.size() + " training texts poisoned (spam with \"" + o.trigger() + "\" labelled ham)");
            BertClassifier bad = TextRobustness.train(backend, arena, modelDir, pIds, p.labels(), seed, o, progress, steps.apply("poisoned seed " + seed));
            double badAcc = EvaluateText.accuracy(EvaluateText.predict(backend, bad, testIds, TextRobustness.BATCH, ws), test.labels());
            double asr = hamShare(EvaluateText.predict(backend, bad, trigIds, TextRobustness.BATCH, ws));
            float[][] vectors = EvaluateText.outputs(backend, bad, pIds, TextRobustness.BATCH, ws).pooled();
            int hams = 0;
            for (int l : p.labels()) if (l == 0) hams++;
            boolean[] spectral = Poisoning.spectralSignatures(vectors, p.labels(), 2, Math.min(0.49, 1.5 * count / hams));
            boolean[] clusters = Poisoning.activationClustering(vectors, p.labels(), 2, 10, 0.35, seed);
            List<Detection> det = List.of(detection("spectral signatures", spectral, p.poisoned()), detection("activation clustering", clusters, p.poisoned()));
            progress.accept(String.format("  poisoned model: clean accuracy %.4f (unpoisoned %.4f), attack success %.4f on triggered test spam (the clean model: %.4f); %s", badAcc,
                    cleanAcc, asr, cleanFlip, det.stream().map(d -> ProgressText.detection(d, "poisoned")).collect(Collectors.joining("; "))));
            List<Integer> keep = new ArrayList<>();
            for (int i = 0; i < pIds.length; i++) if (!spectral[i] && !clusters[i]) keep.add(i);
            int[][] kIds = keep.stream().map(i -> pIds[i]).toArray(int[][]::new);
            int[] kLabels = keep.stream().mapToInt(i -> p.labels()[i]).toArray();
            BertClassifier fixed = TextRobustness.train(backend, arena, modelDir, kIds, kLabels, seed, o, progress, steps.apply("filtered seed " + seed));
            double fixedAcc = EvaluateText.accuracy(EvaluateText.predict(backend, fixed, testIds, TextRobustness.BATCH, ws), test.labels());
            double fixedAsr = hamShare(EvaluateText.predict(backend, fixed, trigIds, TextRobustness.BATCH, ws));
            progress.accept(String.format("  retrained without the %d flagged: clean accuracy %.4f, attack success %.4f", pIds.length - keep.size(), fixedAcc, fixedAsr));
            bad.moveTo(Memory.HOST, arena);
            fixed.moveTo(Memory.HOST, arena);
            return new Poison(count, train.size(), triggered.size(), cleanAcc, badAcc, asr, cleanFlip, det, fixedAcc, fixedAsr, pIds.length - keep.size());
        }
    }

    static Detection detection(String name, boolean[] flagged, boolean[] poisoned) {
        int f = 0, tp = 0, pos = 0;
        for (int i = 0; i < flagged.length; i++) {
            if (flagged[i]) f++;
            if (poisoned[i]) pos++;
            if (flagged[i] && poisoned[i]) tp++;
        }
        return new Detection(name, f, tp, f == 0 ? Double.NaN : (double) tp / f, pos == 0 ? Double.NaN : (double) tp / pos);
    }

    private static double hamShare(int[] predicted) {
        int h = 0;
        for (int p : predicted) if (p == 0) h++;
        return (double) h / predicted.length;
    }

    /** Invisible characters spelled out, so that an example shows its edit. */
    private static String visible(String s) {
        return s.replace("\u200B", "<ZWSP>");
    }
}
