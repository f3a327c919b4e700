package org.tune4j.robust;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.commons.math3.distribution.BinomialDistribution;

/**
 * A regression verdict on evidence, for images and text alike (ARCHITECTURE.md "The gate"): a baseline's and a
 * candidate's predictions on the same examples, paired. Only the discordant pairs carry information: w examples
 * the baseline got right and the candidate wrong, b the other way. The exact McNemar test asks how likely w of
 * w + b is if neither model is better (a one-sided binomial tail at 1/2); a change fails the gate only when it is
 * both unlikely under that null, after Holm's correction over every test the gate makes (the whole set and each
 * slice large enough to decide), and larger than its practical limit. A slice below the minimum size is reported
 * and never fails: 3 of 47 changed images are not evidence. Every verdict names the counts and p-values behind it.
 */
public final class EvidenceGate {
    /**
     * @param alpha the family-wise error rate over all the gate's tests (0.05: at most 5% of equal models fail)
     * @param maxAccuracyDrop the largest drop of the whole set's accuracy that does not matter (0.01: one point)
     * @param maxSliceDrop the same for a slice
     * @param minSliceSize slices with fewer examples are reported, not decided
     */
    public record Options(double alpha, double maxAccuracyDrop, double maxSliceDrop, int minSliceSize) {
        public Options {
            if (!(alpha > 0 && alpha < 1)) throw new IllegalArgumentException("alpha must be in (0, 1), is " + alpha);
            if (!(maxAccuracyDrop >= 0) || !(maxSliceDrop >= 0)) throw new IllegalArgumentException("the drop limits must be >= 0, are " + maxAccuracyDrop + " and " + maxSliceDrop);
            if (minSliceSize < 1) throw new IllegalArgumentException("the minimum slice size must be >= 1, is " + minSliceSize);
        }

        /** 5% family-wise, one point overall, two points on a slice, slices of at least 100. */
        public static Options defaults() {
            return new Options(0.05, 0.01, 0.02, 100);
        }
    }

    /**
     * One test: n examples, {@code worse} right before and wrong now, {@code better} the reverse; the accuracy
     * drop (worse - better) / n; the one-sided exact p-value and its Holm-adjusted value (NaN when not decided).
     */
    public record Test(String name, int n, int worse, int better, double drop, double p, double adjustedP, boolean decided, boolean failed) {
        /** The numbers behind it, in words. */
        public String describe() {
            String counts = String.format(java.util.Locale.ROOT, "%s: %d examples, %d now wrong that were right, %d the reverse, accuracy %s %.2f points", name, n, worse, better,
                    drop >= 0 ? "down" : "up", Math.abs(100 * drop));
            if (!decided) return counts + "; too few examples to decide";
            return counts + String.format(java.util.Locale.ROOT, ", exact McNemar p = %.3g (Holm-adjusted %.3g)", p, adjustedP);
        }
    }

    /** The whole set's test, each slice's, and the reasons it fails (empty: it passes). */
    public record Verdict(Test overall, List<Test> slices, List<String> reasons) {
        public boolean passed() {
            return reasons.isEmpty();
        }
    }

    private EvidenceGate() {}

    /**
     * The verdict on paired correctness: {@code baselineRight[i]} and {@code candidateRight[i]} for example i;
     * {@code slices} by name, each the indices of its examples (classes, hard cases, length buckets ...).
     */
    public static Verdict decide(boolean[] baselineRight, boolean[] candidateRight, Map<String, int[]> slices, Options o) {
        if (baselineRight.length != candidateRight.length) {
            throw new IllegalArgumentException(baselineRight.length + " baseline predictions against " + candidateRight.length + " candidate predictions: they must be paired");
        }
        if (baselineRight.length == 0) throw new IllegalArgumentException("a gate on no examples decides nothing");
        int n = baselineRight.length;
        List<int[]> counts = new ArrayList<>(); // n, worse, better; the whole set first
        List<String> names = new ArrayList<>();
        int[] all = new int[n];
        for (int i = 0; i < n; i++) all[i] = i;
        counts.add(count(baselineRight, candidateRight, all, "the whole set"));
        names.add("the whole set");
        for (Map.Entry<String, int[]> s : slices.entrySet()) {
            counts.add(count(baselineRight, candidateRight, s.getValue(), "slice '" + s.getKey() + "'"));
            names.add("slice '" + s.getKey() + "'");
        }
        // the family: the whole set and every slice large enough to decide
        double[] p = new double[counts.size()];
        List<Integer> family = new ArrayList<>();
        for (int t = 0; t < counts.size(); t++) {
            int[] c = counts.get(t);
            int discordant = c[1] + c[2];
            p[t] = discordant == 0 ? 1.0 : worseTail(discordant, c[1]);
            if (t == 0 || c[0] >= o.minSliceSize()) family.add(t);
        }
        double[] adjusted = holm(p, family);
        List<Test> tests = new ArrayList<>();
        List<String> reasons = new ArrayList<>();
        for (int t = 0; t < counts.size(); t++) {
            int[] c = counts.get(t);
            boolean decided = family.contains(t);
            double drop = c[0] == 0 ? 0 : (double) (c[1] - c[2]) / c[0];
            double limit = t == 0 ? o.maxAccuracyDrop() : o.maxSliceDrop();
            boolean failed = decided && adjusted[t] < o.alpha() && drop > limit + 1e-12;
            Test test = new Test(names.get(t), c[0], c[1], c[2], drop, decided ? p[t] : Double.NaN, decided ? adjusted[t] : Double.NaN, decided, failed);
            tests.add(test);
            if (failed) reasons.add(test.describe() + String.format(java.util.Locale.ROOT, ": below %.3g and more than the %.2f-point limit", o.alpha(), 100 * limit));
        }
        return new Verdict(tests.getFirst(), List.copyOf(tests.subList(1, tests.size())), List.copyOf(reasons));
    }

    /**
     * P(X >= worse) for X ~ Binomial(discordant, 1/2), the exact McNemar p-value: by symmetry the lower tail
     * P(X <= discordant - worse), summed term by term from the probability mass function (commons-math's
     * cumulative probability is 1 - a regularized beta, which cancels to 0 for the tiny tails that matter:
     * 2^-60 came out as 0).
     */
    static double worseTail(int discordant, int worse) {
        BinomialDistribution d = new BinomialDistribution(null, discordant, 0.5);
        double sum = 0;
        for (int k = 0; k <= discordant - worse; k++) sum += d.probability(k);
        return Math.min(1, sum);
    }

    private static int[] count(boolean[] base, boolean[] cand, int[] idx, String what) {
        int worse = 0, better = 0;
        for (int i : idx) {
            if (i < 0 || i >= base.length) throw new IllegalArgumentException(what + " names example " + i + " of " + base.length);
            if (base[i] && !cand[i]) worse++;
            if (!base[i] && cand[i]) better++;
        }
        return new int[] {idx.length, worse, better};
    }

    /** Holm's step-down adjustment of the p-values of the tests in {@code family} (others left as they are). */
    static double[] holm(double[] p, List<Integer> family) {
        double[] out = p.clone();
        List<Integer> order = new ArrayList<>(family);
        order.sort(Comparator.comparingDouble(t -> p[t]));
        int m = order.size();
        double running = 0;
        for (int r = 0; r < m; r++) {
            int t = order.get(r);
            running = Math.max(running, Math.min(1, (m - r) * p[t]));
            out[t] = running;
        }
        return out;
    }

    /** The verdict as a map, for metrics.json and the report. */
    public static Map<String, Object> summary(Verdict v) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("passed", v.passed());
        m.put("overall", v.overall().describe());
        m.put("slices", v.slices().stream().map(Test::describe).toList());
        m.put("reasons", v.reasons());
        return m;
    }
}
