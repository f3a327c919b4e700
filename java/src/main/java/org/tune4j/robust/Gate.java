package org.tune4j.robust;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.tune4j.backend.Backend;
import org.tune4j.data.ImageDataset;
import org.tune4j.nn.Classifier;

/**
 * The regression gate: a candidate model against a baseline on the same data. It measures per-class
 * accuracy, the negative flip rate (samples the baseline got right and the candidate gets wrong),
 * calibration (ECE), corruption robustness (mean error over the corruption suite, and mCE relative to the
 * baseline) and adversarial robustness (PGD), and lists every configured limit the candidate breaks.
 * Accuracy, overall and per class, is decided on evidence ({@link EvidenceGate}: exact McNemar on the paired
 * predictions, Holm over the whole set and every class of at least {@code minSliceSize} images): a drop fails only
 * when it is both larger than its limit and significant at {@code alpha}, so 3 changed images of 47 do not.
 */
public final class Gate {
    /** The limits; a limit of +infinity is not checked (NaN is refused: it would pass anything). Drops are absolute (0.01 = one point). */
    public record Limits(double maxAccuracyDrop, double maxClassDrop, double maxFlipRate, double maxEceIncrease, double maxMce,
            double maxRobustDrop, double alpha, int minSliceSize) {
        public Limits {
            if (!(alpha > 0 && alpha < 1)) throw new IllegalArgumentException("alpha must be in (0, 1), is " + alpha);
            if (minSliceSize < 1) throw new IllegalArgumentException("minSliceSize must be >= 1, is " + minSliceSize);
            double[] all = {maxAccuracyDrop, maxClassDrop, maxFlipRate, maxEceIncrease, maxMce, maxRobustDrop};
            String[] names = {"maxAccuracyDrop", "maxClassDrop", "maxFlipRate", "maxEceIncrease", "maxMce", "maxRobustDrop"};
            for (int i = 0; i < all.length; i++) {
                if (!(all[i] >= 0)) throw new IllegalArgumentException(names[i] + " must be >= 0 (+infinity: not checked), is " + all[i]);
            }
        }

        /** The raw limits with the evidence's defaults: 5% family-wise, classes of at least 100 images decided. */
        public Limits(double maxAccuracyDrop, double maxClassDrop, double maxFlipRate, double maxEceIncrease, double maxMce, double maxRobustDrop) {
            this(maxAccuracyDrop, maxClassDrop, maxFlipRate, maxEceIncrease, maxMce, maxRobustDrop, 0.05, 100);
        }

        public static Limits defaults() {
            return new Limits(0.01, 0.05, 0.05, 0.05, 1.10, 0.05);
        }
    }

    /** Both models' numbers and the verdict. */
    public record Result(double baselineAccuracy, double candidateAccuracy, double[] classDelta, double flipRate, double baselineEce,
            double candidateEce, double baselineCorruptionError, double candidateCorruptionError, double mce, double baselineRobust,
            double candidateRobust, EvidenceGate.Verdict evidence, List<String> violations) {
        public boolean passed() {
            return violations.isEmpty();
        }
    }

    /** What the gate needs of one model on the gate's data: its probabilities, corruption errors and robust accuracy. */
    public record Measures(float[][] probabilities, CorruptionReport.Errors corruption, double robustAccuracy) {}

    private Gate() {}

    /** One model's measures (measure a baseline once, then compare several candidates against it). */
    public static Measures measure(Backend backend, Classifier model, ImageDataset data, Attacks.Pgd attack, long seed) {
        return new Measures(Predictions.probabilities(backend, model, data), CorruptionReport.errors(backend, model, data, seed),
                Attacks.robustAccuracy(backend, model, data, attack, 100, seed));
    }

    public static Result compare(Backend backend, Classifier baseline, Classifier candidate, ImageDataset data, Limits limits,
            Attacks.Pgd attack, long seed) {
        return compare(measure(backend, baseline, data, attack, seed), measure(backend, candidate, data, attack, seed), data, limits);
    }

    /** The verdict from both models' measures on {@code data} (made with the same attack and seed). */
    public static Result compare(Measures baseline, Measures candidate, ImageDataset data, Limits limits) {
        int n = data.size(), classes = data.classes().size();
        if (n == 0) throw new IllegalArgumentException("a gate on no images decides nothing: the data set is empty");
        float[][] pb = baseline.probabilities(), pc = candidate.probabilities();
        if (pb.length != n || pc.length != n) throw new IllegalArgumentException("measures of " + pb.length + " and " + pc.length + " images for " + n);
        long rightB = 0, rightC = 0, flips = 0;
        long[] perClass = new long[classes], rightClassB = new long[classes], rightClassC = new long[classes];
        double[] confB = new double[n], confC = new double[n];
        boolean[] okB = new boolean[n], okC = new boolean[n];
        for (int i = 0; i < n; i++) {
            int y = data.label(i), b = argmax(pb[i]), c = argmax(pc[i]);
            okB[i] = b == y;
            okC[i] = c == y;
            confB[i] = pb[i][b];
            confC[i] = pc[i][c];
            perClass[y]++;
            if (okB[i]) {
                rightB++;
                rightClassB[y]++;
            }
            if (okC[i]) {
                rightC++;
                rightClassC[y]++;
            }
            if (okB[i] && !okC[i]) flips++;
        }
        double[] classDelta = new double[classes];
        for (int k = 0; k < classes; k++) classDelta[k] = perClass[k] == 0 ? 0 : (double) (rightClassC[k] - rightClassB[k]) / perClass[k];
        double accB = (double) rightB / n, accC = (double) rightC / n, flipRate = (double) flips / n;
        double eceB = Calibration.of(confB, okB).ece(), eceC = Calibration.of(confC, okC).ece();
        CorruptionReport.Errors ceB = baseline.corruption(), ceC = candidate.corruption();
        double mce = CorruptionReport.relative(ceC, ceB).get("mCE");
        double robB = baseline.robustAccuracy(), robC = candidate.robustAccuracy();

        Map<String, int[]> slices = new LinkedHashMap<>();
        for (int k = 0; k < classes; k++) {
            int[] idx = new int[(int) perClass[k]];
            for (int i = 0, j = 0; i < n; i++) if (data.label(i) == k) idx[j++] = i;
            slices.put(data.classes().get(k), idx);
        }
        EvidenceGate.Verdict evidence = EvidenceGate.decide(okB, okC, slices,
                new EvidenceGate.Options(limits.alpha(), limits.maxAccuracyDrop(), limits.maxClassDrop(), limits.minSliceSize()));
        List<String> v = new ArrayList<>();
        if (Double.isNaN(accC) || evidence.overall().failed()) v.add(String.format(java.util.Locale.ROOT, "accuracy dropped by %.4f (limit %.4f; %s)", accB - accC, limits.maxAccuracyDrop(), evidence.overall().describe()));
        for (int k = 0; k < classes; k++) {
            EvidenceGate.Test t = evidence.slices().get(k);
            if (t.failed()) v.add(String.format(java.util.Locale.ROOT, "class '%s' accuracy dropped by %.4f (limit %.4f; %s)", data.classes().get(k), -classDelta[k], limits.maxClassDrop(), t.describe()));
        }
        check(v, flipRate, limits.maxFlipRate(), "negative flip rate %.4f (limit %.4f)");
        check(v, eceC - eceB, limits.maxEceIncrease(), "ECE rose by %.4f (limit %.4f)");
        check(v, mce, limits.maxMce(), "mCE %.4f against the baseline (limit %.4f)");
        check(v, robB - robC, limits.maxRobustDrop(), "robust accuracy dropped by %.4f (limit %.4f)");
        return new Result(accB, accC, classDelta, flipRate, eceB, eceC, ceB.mean(), ceC.mean(), mce, robB, robC, evidence, v);
    }

    /**
     * A value breaks its limit when it exceeds it by more than floating-point noise: accuracies are counts
     * over sizes, so a drop of exactly the limit (20 of 2,000 images against 0.01) can land a few ulps
     * above it, and must pass.
     */
    private static void check(List<String> out, double value, double limit, String message) {
        // a NaN measure (a model that outputs NaN) breaks every limit rather than passing them all
        if (Double.isNaN(value) || value > limit + 1e-9) out.add(String.format(message, value, limit));
    }

    private static int argmax(float[] p) {
        int best = 0;
        for (int c = 1; c < p.length; c++) if (p[c] > p[best]) best = c;
        return best;
    }

    /** The numbers as a map, for reports and JSON. */
    public static Map<String, Object> summary(Result r) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("baseline_accuracy", r.baselineAccuracy());
        m.put("candidate_accuracy", r.candidateAccuracy());
        m.put("negative_flip_rate", r.flipRate());
        m.put("class_accuracy_delta", r.classDelta());
        m.put("baseline_ece", r.baselineEce());
        m.put("candidate_ece", r.candidateEce());
        m.put("baseline_corruption_error", r.baselineCorruptionError());
        m.put("candidate_corruption_error", r.candidateCorruptionError());
        m.put("mce", r.mce());
        m.put("baseline_robust_accuracy", r.baselineRobust());
        m.put("candidate_robust_accuracy", r.candidateRobust());
        m.put("evidence", EvidenceGate.summary(r.evidence()));
        m.put("violations", r.violations());
        m.put("passed", r.passed());
        return m;
    }
}
