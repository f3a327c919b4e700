package org.tune4j.robust;

import java.util.Arrays;

/**
 * Watches one statistic of a stream (an input's mean intensity, the model's confidence ...) against a
 * reference sample. The population stability index (PSI) over the reference's deciles,
 * Σ (a − e)·ln(a / e) with a, e the batch's and the reference's shares of a bin, raises a warning above
 * {@code warn} (default 0.1) and an alert above {@code alert} (default 0.25); the two-sample
 * Kolmogorov-Smirnov statistic and its asymptotic p-value are reported beside it. A service feeds it
 * batch by batch; it keeps the reference only, so a batch costs O(batch · log reference).
 */
public final class DriftMonitor {
    /** Verdict on one batch. */
    public enum Level { OK, WARN, ALERT }

    /** One batch's numbers. */
    public record Report(double psi, double ks, double ksPValue, Level level) {}

    private static final int BINS = 10;
    private final double[] reference;
    private final double[] edges;
    private final double[] expected;
    private final double warn;
    private final double alert;

    public DriftMonitor(double[] reference, double warn, double alert) {
        if (reference.length < BINS) throw new IllegalArgumentException("the reference needs at least " + BINS + " values, has " + reference.length);
        requireFinite("reference", reference);
        if (!(warn > 0 && alert >= warn && alert < Double.POSITIVE_INFINITY)) throw new IllegalArgumentException("thresholds must satisfy 0 < warn <= alert, got " + warn + ", " + alert);
        this.reference = reference.clone();
        Arrays.sort(this.reference);
        this.warn = warn;
        this.alert = alert;
        edges = new double[BINS - 1];
        for (int i = 1; i < BINS; i++) edges[i - 1] = this.reference[(int) ((long) i * this.reference.length / BINS)];
        expected = shares(this.reference);
    }

    /** NaN would never be placed in a bin nor ordered (the KS walk would not end): refused, naming where it is. */
    private static void requireFinite(String what, double[] values) {
        for (int i = 0; i < values.length; i++) {
            if (!Double.isFinite(values[i])) {
                throw new IllegalArgumentException(what + " value " + i + " is " + values[i] + " (a NaN or infinite statistic: check the model's weights and inputs)");
            }
        }
    }

    public DriftMonitor(double[] reference) {
        this(reference, 0.1, 0.25);
    }

    private double[] shares(double[] values) {
        double[] s = new double[BINS];
        for (double v : values) {
            int b = Arrays.binarySearch(edges, v);
            s[b >= 0 ? b + 1 : -b - 1]++;
        }
        for (int i = 0; i < BINS; i++) s[i] = Math.max(s[i] / values.length, 1e-4); // empty bins would make ln blow up
        return s;
    }

    /** Compares a batch with the reference. */
    public Report observe(double[] batch) {
        if (batch.length == 0) throw new IllegalArgumentException("empty batch");
        requireFinite("batch", batch);
        double[] actual = shares(batch);
        double psi = 0;
        for (int i = 0; i < BINS; i++) psi += (actual[i] - expected[i]) * Math.log(actual[i] / expected[i]);
        double[] sorted = batch.clone();
        Arrays.sort(sorted);
        double ks = ksStatistic(reference, sorted);
        double n = (double) reference.length * sorted.length / (reference.length + sorted.length);
        Level level = psi > alert ? Level.ALERT : psi > warn ? Level.WARN : Level.OK;
        return new Report(psi, ks, ksPValue(ks * Math.sqrt(n)), level);
    }

    /** sup |F_a − F_b| of two sorted samples. */
    static double ksStatistic(double[] a, double[] b) {
        int i = 0, j = 0;
        double d = 0;
        while (i < a.length && j < b.length) {
            double v = Math.min(a[i], b[j]);
            while (i < a.length && a[i] <= v) i++;
            while (j < b.length && b[j] <= v) j++;
            d = Math.max(d, Math.abs((double) i / a.length - (double) j / b.length));
        }
        return d;
    }

    /** Kolmogorov's asymptotic tail: P(K > x) = 2 Σ (-1)^(k-1) e^(-2 k² x²). */
    static double ksPValue(double x) {
        if (x < 0.2) return 1.0;
        double p = 0;
        for (int k = 1; k <= 100; k++) p += 2 * (k % 2 == 1 ? 1 : -1) * Math.exp(-2.0 * k * k * x * x);
        return Math.min(1, Math.max(0, p));
    }
}
