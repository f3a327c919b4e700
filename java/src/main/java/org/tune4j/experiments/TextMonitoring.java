package org.tune4j.experiments;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.tune4j.eval.EvaluateText;
import org.tune4j.experiments.TextRobustness.Drift;
import org.tune4j.experiments.TextRobustness.Ood;
import org.tune4j.experiments.TextRobustness.Options;
import org.tune4j.robust.EmbeddingDrift;
import org.tune4j.robust.OodScores;

/**
 * The monitoring half of the text robustness study ({@link TextRobustness}): the embedding-drift alert on the newer
 * era and its false alarms on the older one, and the out-of-distribution scores, far (Brown) and near (hard ham).
 */
final class TextMonitoring {
    private TextMonitoring() {}

    static Drift drift(EvaluateText.Outputs ref, EvaluateText.Outputs era, EvaluateText.Outputs stream, double oldAcc, double newAcc, long seed, Options o) {
        EmbeddingDrift.Options dopt = new EmbeddingDrift.Options(0.01, 0.001, 5000, seed);
        EmbeddingDrift onEra = new EmbeddingDrift(ref.pooled(), ref.probabilities(), dopt);
        List<EmbeddingDrift.Report> eraReports = new ArrayList<>();
        SplittableRandom rng = new SplittableRandom(seed + 17);
        float[][] eraP = era.probabilities();
        int falseAlarms = 0;
        for (int b = 0; b < o.eraBatches(); b++) {
            int[] idx = sampleIndex(era.pooled().length, o.batch(), rng);
            EmbeddingDrift.Report r = onEra.observe(pick(era.pooled(), idx), pick(eraP, idx));
            eraReports.add(r);
            if (r.level() == EmbeddingDrift.Level.ALERT) falseAlarms++;
        }
        EmbeddingDrift onStream = new EmbeddingDrift(ref.pooled(), ref.probabilities(), dopt);
        List<EmbeddingDrift.Report> streamReports = new ArrayList<>();
        float[][] sp = stream.probabilities();
        int firstAlert = -1, firstWarn = -1;
        for (int from = 0; from + o.batch() <= sp.length; from += o.batch()) {
            EmbeddingDrift.Report r = onStream.observe(Arrays.copyOfRange(stream.pooled(), from, from + o.batch()), Arrays.copyOfRange(sp, from, from + o.batch()));
            streamReports.add(r);
            if (firstWarn < 0 && r.level() != EmbeddingDrift.Level.OK) firstWarn = r.batch();
            if (firstAlert < 0 && r.level() == EmbeddingDrift.Level.ALERT) firstAlert = r.batch();
        }
        return new Drift(oldAcc, newAcc, falseAlarms, o.eraBatches(), firstAlert, firstAlert < 0 ? -1 : (firstAlert + 1) * o.batch(), firstWarn, streamReports, eraReports);
    }

    /**
     * The scores on the fine-tuned model's logits and vectors, and the two vector scores on the pretrained encoder's vectors
     * ({@code base*}: the same texts before fine-tuning), which the task has not narrowed to what tells spam from ham.
     */
    static Ood ood(float[][] fitVectors, int[] fitLabels, EvaluateText.Outputs in, EvaluateText.Outputs far, EvaluateText.Outputs near,
            float[][] baseTrain, float[][] baseIn, float[][] baseFar, float[][] baseNear) {
        Scores sc = new Scores();
        sc.add("msp", OodScores.maxSoftmax(in.logits()), OodScores.maxSoftmax(far.logits()), OodScores.maxSoftmax(near.logits()));
        sc.add("energy", OodScores.negativeEnergy(in.logits()), OodScores.negativeEnergy(far.logits()), OodScores.negativeEnergy(near.logits()));
        vectorScores("", fitVectors, fitLabels, in.pooled(), far.pooled(), near.pooled(), sc);
        vectorScores("pretrained ", baseTrain, fitLabels, baseIn, baseFar, baseNear, sc);
        return new Ood(sc.far, sc.near, sc.farRoc, sc.nearRoc, fitVectors.length, in.logits().length, far.logits().length, near.logits().length);
    }

    /** Each score's AUROC and ROC curve (60 points), far and near. */
    private static final class Scores {
        final Map<String, Double> far = new LinkedHashMap<>(), near = new LinkedHashMap<>();
        final Map<String, double[][]> farRoc = new LinkedHashMap<>(), nearRoc = new LinkedHashMap<>();

        void add(String name, double[] in, double[] f, double[] n) {
            far.put(name, OodScores.auroc(in, f));
            near.put(name, OodScores.auroc(in, n));
            farRoc.put(name, OodScores.rocCurve(in, f, 60));
            nearRoc.put(name, OodScores.rocCurve(in, n, 60));
        }
    }

    private static void vectorScores(String prefix, float[][] train, int[] labels, float[][] in, float[][] far, float[][] near, Scores sc) {
        OodScores.Mahalanobis maha = new OodScores.Mahalanobis(train, labels, 2, 0.01);
        sc.add(prefix + "mahalanobis", maha.scores(in), maha.scores(far), maha.scores(near));
        OodScores.NearestNeighbours knn = new OodScores.NearestNeighbours(train, KNN);
        sc.add(prefix + "knn", knn.scores(in), knn.scores(far), knn.scores(near));
    }

    /** The neighbour whose distance the kNN score takes (Sun et al. took the 50th of 50,000; the 10th of our 2,500). */
    static final int KNN = 10;


    private static int[] sampleIndex(int n, int k, SplittableRandom rng) {
        int[] all = new int[n];
        for (int i = 0; i < n; i++) all[i] = i;
        for (int i = 0; i < k; i++) {
            int j = i + rng.nextInt(n - i), t = all[i];
            all[i] = all[j];
            all[j] = t;
        }
        return Arrays.copyOf(all, k);
    }

    private static float[][] pick(float[][] rows, int[] idx) {
        float[][] out = new float[idx.length][];
        for (int i = 0; i < idx.length; i++) out[i] = rows[idx[i]];
        return out;
    }
}
