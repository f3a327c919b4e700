package org.tune4j.experiments;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.tune4j.autograd.Workspace;
import org.tune4j.backend.Backend;
import org.tune4j.data.SpamAssassin;
import org.tune4j.data.TextDataset;
import org.tune4j.data.TextTokenizer;
import org.tune4j.eval.EvaluateText;
import org.tune4j.io.BertCheckpoint;
import org.tune4j.io.HfCheckpoint;
import org.tune4j.nn.BertClassifier;
import org.tune4j.nn.Lora;
import org.tune4j.robust.DataQuality;
import org.tune4j.robust.EmbeddingDrift;
import org.tune4j.robust.TextDataQuality;
import org.tune4j.tensor.Memory;
import org.tune4j.train.TextTrainer;
import org.tune4j.train.Trainer;

/**
 * The robustness story of a fine-tuned text classifier on real mail (ARCHITECTURE.md "Robustness of the text model"):
 * a BERT fine-tuned by LoRA on the older era of the SpamAssassin corpus (easy-ham-1, spam-1), then
 * <ol>
 *   <li>drift: the newer era (easy-ham-2, spam-2) streamed in batches against a reference from the older one
 *       ({@link EmbeddingDrift}), the batch at which the alert fires, the false alarms on batches of the older era,
 *       and the accuracy decay the alert warns about;</li>
 *   <li>out of distribution: MSP, energy and Mahalanobis AUROC, far (Brown corpus passages) and near (hard-ham);</li>
 *   <li>data quality: each header field probed against the label on the raw mail, the Subject on the cleaned task,
 *       near-duplicates across splits, label issues on the test set;</li>
 *   <li>poisoning: a trigger phrase in a share of the training spam relabelled ham, the attack's success on
 *       triggered test spam, spectral signatures and activation clustering, retraining without what they flag;</li>
 *   <li>evasion: the character-level attack at 1, 3 and 5 edits, the edits passed through Unicode normalisation,
 *       and the attack run again against normalisation and the model together.</li>
 * </ol>
 * Each seed is its own split of the older era, initialisation and sample of the rest.
 */
public final class TextRobustness {
    /**
     * The protocol. {@code trainSize} older-era texts to train on, {@code referenceSize} to be the drift reference,
     * {@code testSize} for the older era's test; drift batches of {@code batch} texts, {@code eraBatches} of them from the
     * older era's remainder, the newer era streamed until {@code streamSize}; {@code poisonShare} of the training set
     * poisoned; {@code attacked} spam texts attacked, on the plain model and on one trained with {@code adversarial} (FreeLB; null:
     * none); after the alert, the first {@code updateWindow} newer texts train a new
     * adapter with {@code rehearsal} older training texts (0: no update); the compressed models (int8, 2:4 with LoRA
     * recovery, both) are attacked on {@code compressionAttacked} spam texts (0: no compression study).
     */
    public record Options(List<Long> seeds, int trainSize, int referenceSize, int testSize, int batch, int eraBatches, int streamSize, int oodSize,
            int maxLength, int epochs, float lr, Lora.Config lora, double poisonShare, String trigger, int attacked, List<Integer> budgets, boolean poisoning,
            boolean evasion, TextTrainer.FreeLb adversarial, int updateWindow, int rehearsal, int compressionAttacked, BertClassifier.Pooling pooling) {
        public Options {
            seeds = List.copyOf(seeds);
            budgets = List.copyOf(budgets);
            if (seeds.isEmpty()) throw new IllegalArgumentException("give at least one seed");
            if (trainSize < 10 || referenceSize < 10 || testSize < 10 || batch < 10) throw new IllegalArgumentException("train, reference, test and batch sizes must be >= 10");
            if (!(poisonShare >= 0 && poisonShare < 0.5)) throw new IllegalArgumentException("poisonShare must be in [0, 0.5), is " + poisonShare);
            if (budgets.isEmpty() || budgets.stream().anyMatch(b -> b < 1)) throw new IllegalArgumentException("edit budgets must be >= 1: " + budgets);
            if (updateWindow < 0 || updateWindow >= streamSize || rehearsal < 0) throw new IllegalArgumentException("the update window must be in [0, streamSize) and rehearsal >= 0: " + updateWindow + ", " + rehearsal);
        }

        /**
         * The demo's run (8.9 minutes on 2 Zen 5 cores, BENCHMARKS.md): one seed, the default's 600 texts to train (with 400, 2 epochs of
         * LoRA at 1e-3 leave the model calling every text ham), FreeLB with 2 ascent steps, 30 spam texts attacked (15 for
         * each compressed model), 800 newer texts streamed, an update window of 300 of them with 150 rehearsed.
         */
        public static Options demo() {
            Options d = defaults();
            return new Options(List.of(1L), d.trainSize(), d.referenceSize(), d.testSize(), d.batch(), d.eraBatches(), 800, d.oodSize(), d.maxLength(), d.epochs(), d.lr(),
                    d.lora(), d.poisonShare(), d.trigger(), 30, d.budgets(), true, true, new TextTrainer.FreeLb(2, 0.1f, 0f, 0.1f), 300, 150, 15, d.pooling());
        }

        public Options withPooling(BertClassifier.Pooling p) {
            return new Options(seeds, trainSize, referenceSize, testSize, batch, eraBatches, streamSize, oodSize, maxLength, epochs, lr, lora, poisonShare, trigger, attacked,
                    budgets, poisoning, evasion, adversarial, updateWindow, rehearsal, compressionAttacked, p);
        }

        /** The default run: 600 texts, 2 epochs of LoRA r 8 on query and value at 1e-3 (the finetune job's adapter and rate), batches of 100, 1% poison, 100 attacked. */
        public static Options defaults() {
            return new Options(List.of(1L, 2L, 3L), 600, 300, 400, 100, 20, 1000, 400, 96, 2, 1e-3f,
                    new Lora.Config(8, 16f, 0.1f, false, List.of("query", "value"), List.of("classifier")), 0.01, "cf blue harbor", 100, List.of(1, 3, 5), true, true,
                    new TextTrainer.FreeLb(3, 0.1f, 0f, 0.1f), 400, 200, 50, BertClassifier.Pooling.MEAN);
        }
    }

    public record Drift(double oldAccuracy, double newAccuracy, int falseAlarms, int eraBatches, int firstAlertBatch, int messagesToAlert, int firstWarnBatch,
            List<EmbeddingDrift.Report> stream, List<EmbeddingDrift.Report> era) {}

    /** AUROC of each score; the vector scores fitted on {@code fitSize} older-era texts (all but the test). */
    public record Ood(Map<String, Double> farAuroc, Map<String, Double> nearAuroc, Map<String, double[][]> farRoc, Map<String, double[][]> nearRoc, int fitSize, int inSize,
            int farSize, int nearSize) {}

    /**
     * {@code labelFlip}: 5% of the training labels flipped, then found by confident learning on probabilities cross-fitted
     * (5 folds, logistic regression) on the pretrained encoder's vectors; {@code trainLabelIssues}: what the same check
     * flags on the unflipped training set.
     */
    public record Quality(List<TextDataQuality.FieldProbe> rawFields, List<TextDataQuality.FieldProbe> cleanedFields, int nearDuplicatesOldTest,
            int nearDuplicatesNew, List<String> duplicateExamples, int labelIssues, List<String> labelIssueExamples, int flipped, Detection labelFlip, int trainLabelIssues) {}

    public record Detection(String method, int flagged, int truePositives, double precision, double recall) {}

    /**
     * {@code attackSuccess}: the share of the test spam the clean model catches that the poisoned model calls ham once the
     * trigger is in; {@code cleanModelTriggerFlip}: the same share for the clean model (what the phrase does by itself).
     */
    public record Poison(int poisoned, int trainSize, int triggeredSpam, double cleanAccuracy, double poisonedAccuracy, double attackSuccess, double cleanModelTriggerFlip,
            List<Detection> detections, double defendedAccuracy, double defendedAttackSuccess, int removed) {}

    /**
     * Attack success by edit budget on the plain model, its edits after normalisation, the attack on normalisation and
     * model together; and on the model trained with FreeLB (its clean accuracy beside it; null when not run).
     */
    public record Evasion(int attacked, Map<Integer, Double> success, Map<Integer, Double> successAfterNormalization, Map<Integer, Double> adaptiveSuccessAgainstNormalization,
            Map<String, Integer> editsUsed, List<String> examples, Double adversarialAccuracy, Integer adversarialAttacked, Map<Integer, Double> adversarialSuccess,
            Map<String, Object> adversarialGate) {}

    /**
     * The continual update, all tested on the newer texts after the window ({@code heldOutNew}) and the older era's test:
     * the model as trained, the update (its adapter merged, a new adapter trained on the window and the rehearsal sample),
     * and a model trained on both eras (the older training set and the window) from the start.
     */
    public record Update(int window, int rehearsal, int heldOutNew, double originalNew, double originalOld, double updatedNew, double updatedOld, double jointNew,
            double jointOld, Map<String, Object> gateOnOlder) {}

    public record Run(long seed, double seconds, Drift drift, Ood ood, Quality quality, Poison poison, Evasion evasion, Update update, List<TextCompression.Variant> compression) {}

    public record Result(String model, int corpusSize, int olderEra, int newerEra, int hardHam, Options options, List<Run> runs) {}

    private TextRobustness() {}

    public static Result run(Backend backend, Path modelDir, List<SpamAssassin.Mail> mails, TextDataset brown, Options o, Consumer<String> progress) throws IOException {
        return run(backend, modelDir, mails, brown, o, progress, name -> Trainer.Listener.NONE);
    }

    /**
     * {@link #run(Backend, Path, List, TextDataset, Options, Consumer)}, each training's steps and epochs told to the listener
     * {@code steps} gives for its name ("lora seed 1", "freelb seed 1", "2:4 recovery seed 1" ...: a progress bar each).
     */
    public static Result run(Backend backend, Path modelDir, List<SpamAssassin.Mail> mails, TextDataset brown, Options o, Consumer<String> progress,
            Function<String, Trainer.Listener> steps) throws IOException {
        List<SpamAssassin.Mail> older = new ArrayList<>(), newer = new ArrayList<>(), hard = new ArrayList<>();
        for (SpamAssassin.Mail m : mails) {
            if (m.group().startsWith("hard")) hard.add(m);
            else if (m.group().endsWith("-1")) older.add(m);
            else if (m.group().endsWith("-2")) newer.add(m);
        }
        if (older.isEmpty() || newer.isEmpty() || hard.isEmpty()) {
            throw new IllegalArgumentException("the corpus needs its older (easy-ham-1, spam-1), newer (easy-ham-2, spam-2) and hard-ham-1 groups; got "
                    + older.size() + ", " + newer.size() + ", " + hard.size() + " messages");
        }
        if (o.trainSize() + o.referenceSize() + o.testSize() + o.batch() > older.size()) {
            throw new IllegalArgumentException("the older era has " + older.size() + " messages: too few for " + o.trainSize() + " to train, " + o.referenceSize()
                    + " for the reference, " + o.testSize() + " to test and a batch of " + o.batch() + " besides");
        }
        List<Run> runs = new ArrayList<>();
        try (TextTokenizer tok = TextTokenizer.load(modelDir.resolve(HfCheckpoint.TOKENIZER), o.maxLength(), HfCheckpoint.readBertConfig(modelDir).vocabSize())) {
            List<TextDataQuality.FieldProbe> raw = rawFieldLeakage(mails, progress);
            for (long seed : o.seeds()) runs.add(one(backend, modelDir, tok, older, newer, hard, brown, raw, seed, o, progress, steps));
        }
        return new Result(modelDir.toString(), mails.size(), older.size(), newer.size(), hard.size(), o, runs);
    }

    /** Every header field present in at least 5% of the messages, probed against the label (5-fold naive Bayes). */
    static List<TextDataQuality.FieldProbe> rawFieldLeakage(List<SpamAssassin.Mail> mails, Consumer<String> progress) {
        Map<String, Integer> present = new LinkedHashMap<>();
        for (SpamAssassin.Mail m : mails) for (String f : m.headers().keySet()) present.merge(f, 1, Integer::sum);
        Map<String, String[]> fields = new LinkedHashMap<>();
        for (var e : present.entrySet()) {
            if (e.getValue() < 0.05 * mails.size()) continue;
            String[] v = new String[mails.size()];
            for (int i = 0; i < v.length; i++) v[i] = mails.get(i).headers().getOrDefault(e.getKey(), "");
            fields.put(e.getKey(), v);
        }
        int[] labels = mails.stream().mapToInt(SpamAssassin.Mail::label).toArray();
        List<TextDataQuality.FieldProbe> probes = TextDataQuality.fieldLeakage(fields, labels, 2, 5, LEAK_AT, 7);
        long flagged = probes.stream().filter(TextDataQuality.FieldProbe::flagged).count();
        progress.accept(String.format("leakage: %d header fields probed on the raw mail, %d give the label away (balanced accuracy >= %.2f)", probes.size(), flagged, LEAK_AT));
        return probes;
    }

    /** A field whose probe alone reaches this balanced accuracy gives the label away. */
    static final double LEAK_AT = 0.9;

    private static Run one(Backend backend, Path modelDir, TextTokenizer tok, List<SpamAssassin.Mail> older, List<SpamAssassin.Mail> newer,
            List<SpamAssassin.Mail> hard, TextDataset brown, List<TextDataQuality.FieldProbe> raw, long seed, Options o, Consumer<String> progress,
            Function<String, Trainer.Listener> steps) throws IOException {
        long t0 = System.nanoTime();
        TextDataset old = SpamAssassin.dataset("older era", older);
        List<TextDataset> parts = old.stratifiedSplit(seed, new String[] {"train", "reference", "test", "rest"}, (double) o.trainSize() / old.size(),
                (double) o.referenceSize() / old.size(), (double) o.testSize() / old.size());
        TextDataset train = parts.get(0), reference = parts.get(1), test = parts.get(2), rest = parts.get(3);
        SplittableRandom rng = new SplittableRandom(seed);
        TextDataset stream = shuffled(SpamAssassin.dataset("newer era", newer), rng.split(), o.streamSize());
        TextDataset hardHam = shuffled(SpamAssassin.dataset("hard ham", hard), rng.split(), o.oodSize());
        TextDataset far = shuffled(brown, rng.split(), o.oodSize());
        progress.accept(String.format("seed %d: %d older-era texts to train, %d reference, %d test, %d in the era's batches; %d newer-era texts streamed", seed,
                train.size(), reference.size(), test.size(), rest.size(), stream.size()));
        // the sets every part of the study reads, tokenized once
        int[][] trainIds = tok.ids(train.texts()), testIds = tok.ids(test.texts()), streamIds = tok.ids(stream.texts());
        try (Arena arena = Arena.ofShared(); Workspace ws = new Workspace()) {
            BertClassifier model = train(backend, arena, modelDir, trainIds, train.labels(), seed, o, progress, steps.apply("lora seed " + seed));
            Function<int[][], EvaluateText.Outputs> outIds = ids -> EvaluateText.outputs(backend, model, ids, BATCH, ws);
            Function<TextDataset, EvaluateText.Outputs> out = d -> outIds.apply(tok.ids(d.texts()));
            EvaluateText.Outputs ref = out.apply(reference), tst = outIds.apply(testIds), era = out.apply(rest), str = outIds.apply(streamIds);
            double oldAcc = EvaluateText.accuracy(tst.predicted(), test.labels()), newAcc = EvaluateText.accuracy(str.predicted(), stream.labels());
            Drift drift = TextMonitoring.drift(ref, era, str, oldAcc, newAcc, seed, o);
            progress.accept(String.format("drift: accuracy %.4f on the older era's test, %.4f on the newer era; alert at batch %d (%d messages), warning at batch %d; "
                    + "false alarms %d of %d older-era batches", oldAcc, newAcc, drift.firstAlertBatch(), drift.messagesToAlert(), drift.firstWarnBatch(), drift.falseAlarms(), drift.eraBatches()));

            EvaluateText.Outputs tr = outIds.apply(trainIds), hh = out.apply(hardHam), br = out.apply(far);
            // the vector scores are fitted on every older-era text that is not tested on: training set, reference, rest
            TextDataset fit = concat(concat(train, reference), rest);
            float[][] fitVectors = concatRows(concatRows(tr.pooled(), ref.pooled()), era.pooled());
            float[][][] base = pretrainedVectors(backend, ws, modelDir, tok, o, List.of(fit, test, far, hardHam));
            Ood ood = TextMonitoring.ood(fitVectors, fit.labels(), tst, br, hh, base[0], base[1], base[2], base[3]);
            progress.accept("out of distribution, AUROC far (Brown): " + ProgressText.scores(ood.farAuroc()) + "; near (hard ham): " + ProgressText.scores(ood.nearAuroc()));

            Quality quality = quality(raw, train, test, stream, tst, Arrays.copyOf(base[0], train.size()), seed);
            progress.accept(String.format("data quality: header traces in the cleaned texts (balanced accuracy of a probe on each): %s; %d near-duplicates of training texts in the older test, %d in the newer era; %d label issues in the test; "
                    + "%d flipped training labels: %s (%d issues on the unflipped set)",
                    quality.cleanedFields().stream().map(f -> String.format("%s %.3f%s", f.field(), f.balancedAccuracy(), f.flagged() ? " (flagged)" : "")).collect(Collectors.joining(", ")), quality.nearDuplicatesOldTest(), quality.nearDuplicatesNew(), quality.labelIssues(), quality.flipped(), ProgressText.detection(quality.labelFlip(), "flipped"), quality.trainLabelIssues()));

            Evasion evasion = null;
            if (o.evasion()) {
                evasion = TextAttacks.evasion(backend, ws, modelDir, model, tok, train, trainIds, test, testIds, tst, o, seed, progress, steps);
                progress.accept("evasion: success by edit budget " + ProgressText.byEdits(evasion.success()) + "; the same edits after normalisation "
                        + ProgressText.byEdits(evasion.successAfterNormalization()) + "; attacking normalisation and model together "
                        + ProgressText.byEdits(evasion.adaptiveSuccessAgainstNormalization())
                        + (evasion.adversarialSuccess() == null ? "" : String.format("; FreeLB-trained model (clean accuracy %.4f) %s; the gate against the plain model: %s",
                                evasion.adversarialAccuracy(), ProgressText.byEdits(evasion.adversarialSuccess()), evasion.adversarialGate().get("overall"))));
            }
            Poison poison = null;
            if (o.poisoning()) {
                poison = TextAttacks.poison(backend, ws, modelDir, tok, train, test, testIds, model, tst.predicted(), oldAcc, seed, o, progress, steps);
            }
            List<TextCompression.Variant> compression = null;
            if (o.compressionAttacked() > 0) {
                compression = TextCompression.run(backend.host(), modelDir, tok, model, train, trainIds, test, testIds, stream, streamIds, tst.predicted(), str.predicted(), seed, o,
                        progress, steps);
            }
            Update update = null;
            if (o.updateWindow() > 0) {
                update = update(backend, ws, arena, modelDir, tok, model, train, test, testIds, stream, tst.predicted(), str.predicted(), seed, o, progress, steps); // changes model: last
                progress.accept(String.format("continual update (%d newer texts + %d older rehearsed): newer %.4f -> %.4f (both eras from the start: %.4f), older %.4f -> %.4f (%.4f)",
                        update.window(), update.rehearsal(), update.originalNew(), update.updatedNew(), update.jointNew(), update.originalOld(), update.updatedOld(), update.jointOld())
                        + "; the gate on the older era: " + (Boolean.TRUE.equals(update.gateOnOlder().get("passed")) ? "passes" : "fails " + update.gateOnOlder().get("reasons")));
            }
            model.moveTo(Memory.HOST, arena);
            return new Run(seed, (System.nanoTime() - t0) / 1e9, drift, ood, quality, poison, evasion, update, compression);
        }
    }

    /** {@code testPredicted}, {@code streamPredicted}: the model's predictions, as trained, on {@code test} and {@code stream}. */
    private static Update update(Backend backend, Workspace ws, Arena arena, Path modelDir, TextTokenizer tok, BertClassifier model, TextDataset train, TextDataset test,
            int[][] testIds, TextDataset stream, int[] testPredicted, int[] streamPredicted, long seed, Options o, Consumer<String> progress,
            Function<String, Trainer.Listener> steps) throws IOException {
        List<Integer> w = new ArrayList<>(), h = new ArrayList<>();
        for (int i = 0; i < stream.size(); i++) (i < o.updateWindow() ? w : h).add(i);
        TextDataset window = stream.select("window", w), held = stream.select("held out", h);
        int[][] heldIds = tok.ids(held.texts());
        double origNew = EvaluateText.accuracy(Arrays.copyOfRange(streamPredicted, w.size(), stream.size()), held.labels());
        int[] origOldPred = testPredicted;
        double origOld = EvaluateText.accuracy(origOldPred, test.labels());
        double jointNew, jointOld;
        try (Arena a = Arena.ofShared()) {
            TextDataset both = concat(train, window);
            BertClassifier joint = train(backend, a, modelDir, tok.ids(both.texts()), both.labels(), seed, o, progress, steps.apply("joint seed " + seed));
            jointNew = EvaluateText.accuracy(EvaluateText.predict(backend, joint, heldIds, BATCH, ws), held.labels());
            jointOld = EvaluateText.accuracy(EvaluateText.predict(backend, joint, testIds, BATCH, ws), test.labels());
            joint.moveTo(Memory.HOST, a);
        }
        // the deployed adapter folded into the weights, a new one on top: what a service ships as the next version
        Lora.fold(model, backend);
        Lora.inject(model, arena, o.lora(), new SplittableRandom(seed * 1000 + 7));
        model.moveTo(backend.memory(), arena);
        TextDataset data = concat(window, train.sample(seed, o.rehearsal()));
        TextTrainer.fit(backend, model, tok.ids(data.texts()), data.labels(), new TextTrainer.Options(o.epochs(), 16, 1, o.lr(), 0.01f, 0.1f, 1.0, seed), line -> progress.accept("  " + line),
                steps.apply("update seed " + seed));
        double updNew = EvaluateText.accuracy(EvaluateText.predict(backend, model, heldIds, BATCH, ws), held.labels());
        int[] updOldPred = EvaluateText.predict(backend, model, testIds, BATCH, ws);
        double updOld = EvaluateText.accuracy(updOldPred, test.labels());
        return new Update(window.size(), data.size() - window.size(), held.size(), origNew, origOld, updNew, updOld, jointNew, jointOld,
                gate(test, origOldPred, updOldPred));
    }

    /**
     * The evidence gate (the one the image gate uses) on a candidate's predictions against a baseline's on {@code test}:
     * the whole set, each class, and three length buckets by words (under 100, 100 to 299, 300 and more: mail is long,
     * so nearly every text fills the model's window and token counts would put them all in one bucket).
     */
    static Map<String, Object> gate(TextDataset test, int[] baseline, int[] candidate) {
        boolean[] b = new boolean[test.size()], c = new boolean[test.size()];
        Map<String, List<Integer>> slices = new LinkedHashMap<>();
        for (String name : test.classes()) slices.put("class " + name, new ArrayList<>());
        for (String name : List.of("under 100 words", "100 to 299 words", "300 words and more")) slices.put(name, new ArrayList<>());
        for (int i = 0; i < test.size(); i++) {
            b[i] = baseline[i] == test.labels()[i];
            c[i] = candidate[i] == test.labels()[i];
            slices.get("class " + test.classes().get(test.labels()[i])).add(i);
            int words = test.texts().get(i).split("\\s+").length;
            slices.get(words < 100 ? "under 100 words" : words < 300 ? "100 to 299 words" : "300 words and more").add(i);
        }
        Map<String, int[]> idx = new LinkedHashMap<>();
        slices.forEach((k, v) -> idx.put(k, v.stream().mapToInt(Integer::intValue).toArray()));
        return org.tune4j.robust.EvidenceGate.summary(org.tune4j.robust.EvidenceGate.decide(b, c, idx, org.tune4j.robust.EvidenceGate.Options.defaults()));
    }

    /** The pretrained encoder's pooled vectors of each data set (a head is made, and never used). */
    private static float[][][] pretrainedVectors(Backend backend, Workspace ws, Path modelDir, TextTokenizer tok, Options o, List<TextDataset> sets) throws IOException {
        try (Arena arena = Arena.ofShared()) {
            BertClassifier base = new BertClassifier(arena, BertCheckpoint.load(arena, modelDir), o.pooling(), 2, new SplittableRandom(0));
            base.moveTo(backend.memory(), arena);
            float[][][] out = new float[sets.size()][][];
            for (int i = 0; i < out.length; i++) out[i] = EvaluateText.pooled(backend, base, tok.ids(sets.get(i).texts()), BATCH, ws);
            base.moveTo(Memory.HOST, arena);
            return out;
        }
    }

    static BertClassifier train(Backend backend, Arena arena, Path modelDir, int[][] ids, int[] labels, long seed, Options o, Consumer<String> progress,
            Trainer.Listener steps) throws IOException {
        return train(backend, arena, modelDir, ids, labels, seed, o, null, progress, steps);
    }

    /** LoRA on the pretrained model, the same initialisation for a seed whatever the data; {@code adversarial} null for plain training. */
    static BertClassifier train(Backend backend, Arena arena, Path modelDir, int[][] ids, int[] labels, long seed, Options o, TextTrainer.FreeLb adversarial,
            Consumer<String> progress, Trainer.Listener steps) throws IOException {
        SplittableRandom rng = new SplittableRandom(seed * 1000);
        BertClassifier model = new BertClassifier(arena, BertCheckpoint.load(arena, modelDir), o.pooling(), 2, rng);
        Lora.inject(model, arena, o.lora(), rng);
        model.moveTo(backend.memory(), arena);
        TextTrainer.fit(backend, model, ids, labels, new TextTrainer.Options(o.epochs(), 16, 1, o.lr(), 0.01f, 0.1f, 1.0, seed, adversarial), line -> progress.accept("  " + line),
                steps);
        return model;
    }

    private static Quality quality(List<TextDataQuality.FieldProbe> raw, TextDataset train, TextDataset test, TextDataset stream, EvaluateText.Outputs testOut,
            float[][] pretrainedTrain, long seed) {
        // the cleaned task's input is Subject and body: no header field is left, but header values can survive in a body
        // (a mailing list's footer, the addresses a message quotes). Those traces are the cleaned task's metadata fields.
        TextDataset all = concat(train, test);
        List<TextDataQuality.FieldProbe> cleaned = TextDataQuality.fieldLeakage(traces(all.texts()), all.labels(), 2, 5, LEAK_AT, seed);
        var dOld = TextDataQuality.nearDuplicates(train.texts(), test.texts(), 0.8);
        var dNew = TextDataQuality.nearDuplicates(train.texts(), stream.texts(), 0.8);
        List<String> dupExamples = new ArrayList<>();
        for (var d : dOld.subList(0, Math.min(3, dOld.size()))) {
            dupExamples.add(String.format("Jaccard %.2f: test \"%s\" ~ train \"%s\"", d.jaccard(), cut(test.texts().get(d.testIndex())), cut(train.texts().get(d.trainIndex()))));
        }
        var issues = DataQuality.labelIssues(testOut.probabilities(), test.labels(), 2);
        List<String> issueExamples = new ArrayList<>();
        for (var i : issues.subList(0, Math.min(5, issues.size()))) {
            issueExamples.add(String.format("labelled %s, the model says %s (%.2f): \"%s\"", SpamAssassin.CLASSES.get(i.givenLabel()), SpamAssassin.CLASSES.get(i.suggestedLabel()),
                    i.suggestedProbability(), cut(test.texts().get(i.index()))));
        }
        int[] flippedLabels = train.labels().clone();
        boolean[] flipped = new boolean[flippedLabels.length];
        SplittableRandom rng = new SplittableRandom(seed + 31);
        int flips = (int) Math.round(0.05 * flippedLabels.length);
        for (int done = 0; done < flips; ) {
            int i = rng.nextInt(flippedLabels.length);
            if (flipped[i]) continue;
            flipped[i] = true;
            flippedLabels[i] = 1 - flippedLabels[i];
            done++;
        }
        boolean[] found = new boolean[flipped.length];
        for (var i : DataQuality.labelIssues(org.tune4j.robust.CrossFit.probabilities(pretrainedTrain, flippedLabels, 2, 5, seed), flippedLabels, 2)) found[i.index()] = true;
        int natural = DataQuality.labelIssues(org.tune4j.robust.CrossFit.probabilities(pretrainedTrain, train.labels(), 2, 5, seed), train.labels(), 2).size();
        return new Quality(raw, cleaned, dOld.size(), dNew.size(), dupExamples, issues.size(), issueExamples, flips, TextAttacks.detection("confident learning", found, flipped), natural);
    }

    private static final java.util.regex.Pattern LIST_FOOTER = java.util.regex.Pattern.compile("(?i)(\\S+ mailing list|mailman/listinfo/\\S+|list-\\w+@\\S+)");
    private static final java.util.regex.Pattern ADDRESS = java.util.regex.Pattern.compile("[\\w.+-]+@([\\w-]+(?:\\.[\\w-]+)+)");

    /** Metadata left in cleaned texts: mailing-list footers, and the domains of the mail addresses a text quotes. */
    static Map<String, String[]> traces(List<String> texts) {
        String[] footer = new String[texts.size()], domains = new String[texts.size()];
        for (int i = 0; i < texts.size(); i++) {
            footer[i] = matches(LIST_FOOTER, texts.get(i), 0);
            domains[i] = matches(ADDRESS, texts.get(i), 1);
        }
        Map<String, String[]> f = new LinkedHashMap<>();
        f.put("mailing-list footer in the text", footer);
        f.put("mail domains in the text", domains);
        return f;
    }

    private static String matches(java.util.regex.Pattern p, String text, int group) {
        StringBuilder sb = new StringBuilder();
        var m = p.matcher(text);
        while (m.find()) sb.append(sb.isEmpty() ? "" : " ").append(m.group(group));
        return sb.toString();
    }

    /** The batch of every forward pass here: large enough that the model's time per text is near its least (BENCHMARKS.md). */
    static final int BATCH = 32;

    /** The model as an attack sees it: texts to class probabilities, in batches on {@code ws} (one workspace for many calls). */
    static Function<List<String>, float[][]> probabilities(Backend backend, BertClassifier model, TextTokenizer tok, Workspace ws) {
        return texts -> EvaluateText.outputs(backend, model, tok.ids(texts), BATCH, ws).probabilities();
    }

    /** The indices of the test spam that {@code predicted} calls spam (what a spammer wants through), in test order. */
    static List<Integer> caughtSpam(TextDataset test, int[] predicted) {
        List<Integer> spam = new ArrayList<>();
        for (int i = 0; i < test.size(); i++) if (test.labels()[i] == 1 && predicted[i] == 1) spam.add(i);
        return spam;
    }

    private static TextDataset shuffled(TextDataset d, SplittableRandom rng, int n) {
        List<Integer> idx = new ArrayList<>();
        for (int i = 0; i < d.size(); i++) idx.add(i);
        java.util.Collections.shuffle(idx, new java.util.Random(rng.nextLong()));
        return d.select(d.name(), idx.subList(0, Math.min(n, idx.size())));
    }

    private static TextDataset concat(TextDataset a, TextDataset b) {
        List<String> t = new ArrayList<>(a.texts());
        t.addAll(b.texts());
        int[] l = Arrays.copyOf(a.labels(), a.size() + b.size());
        System.arraycopy(b.labels(), 0, l, a.size(), b.size());
        return new TextDataset(a.name() + " + " + b.name(), t, l, a.classes());
    }

    private static float[][] concatRows(float[][] a, float[][] b) {
        float[][] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    static String cut(String s) {
        String one = s.replace('\n', ' ');
        return one.length() > 160 ? one.substring(0, 160) + "…" : one;
    }
}
