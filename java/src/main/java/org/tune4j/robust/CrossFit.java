package org.tune4j.robust;

import java.util.SplittableRandom;

/**
 * Out-of-sample class probabilities for every example of a set, as confident learning needs them (each example's
 * probabilities from a model that did not see it): k folds, a multinomial logistic regression on fixed vectors (an
 * encoder's pooled vectors) fitted on the other folds. Features are standardised on the fitting folds; full-batch
 * gradient descent with an L2 penalty, from zero, so the result is a function of the data and the seed alone.
 */
public final class CrossFit {
    private CrossFit() {}

    /** probabilities[i][class] for each of {@code x}'s rows, from the fold model that left row i out. */
    public static float[][] probabilities(float[][] x, int[] labels, int classes, int folds, long seed) {
        if (x.length != labels.length || x.length < folds) throw new IllegalArgumentException(x.length + " vectors, " + labels.length + " labels, " + folds + " folds");
        if (folds < 2) throw new IllegalArgumentException("folds must be >= 2, is " + folds);
        int n = x.length, d = x[0].length;
        for (int i = 0; i < n; i++) if (x[i].length != d) throw new IllegalArgumentException("vector " + i + " has " + x[i].length + " values, vector 0 " + d);
        int[] fold = new int[n];
        SplittableRandom rng = new SplittableRandom(seed);
        for (int i = 0; i < n; i++) fold[i] = rng.nextInt(folds);
        float[][] out = new float[n][];
        double[][] z = new double[n][d]; // every row standardised once per fold, with that fold's mean and sd
        for (int f = 0; f < folds; f++) {
            double[] mean = new double[d], sd = new double[d];
            int m = 0;
            for (int i = 0; i < n; i++) {
                if (fold[i] == f) continue;
                m++;
                for (int j = 0; j < d; j++) mean[j] += x[i][j];
            }
            if (m == 0) throw new IllegalArgumentException("all " + n + " examples fell into one of " + folds + " folds: too few examples to cross-fit");
            for (int j = 0; j < d; j++) mean[j] /= m;
            for (int i = 0; i < n; i++) if (fold[i] != f) for (int j = 0; j < d; j++) sd[j] += (x[i][j] - mean[j]) * (x[i][j] - mean[j]);
            for (int j = 0; j < d; j++) sd[j] = Math.sqrt(sd[j] / m) + 1e-8;
            for (int i = 0; i < n; i++) for (int j = 0; j < d; j++) z[i][j] = (x[i][j] - mean[j]) / sd[j];
            double[][] w = fit(z, labels, fold, f, classes);
            for (int i = 0; i < n; i++) if (fold[i] == f) out[i] = softmax(w, z[i]);
        }
        return out;
    }

    private static final int STEPS = 300;
    private static final double RATE = 0.5, L2 = 1e-3;

    /** Weights [classes][d + 1] (the last a bias) fitted on the standardised rows {@code z} outside fold {@code f}. */
    private static double[][] fit(double[][] z, int[] labels, int[] fold, int f, int classes) {
        int d = z[0].length;
        double[][] w = new double[classes][d + 1], g = new double[classes][d + 1];
        int m = 0;
        for (int i = 0; i < fold.length; i++) if (fold[i] != f) m++;
        for (int step = 0; step < STEPS; step++) {
            for (double[] row : g) java.util.Arrays.fill(row, 0);
            for (int i = 0; i < z.length; i++) {
                if (fold[i] == f) continue;
                float[] p = softmax(w, z[i]);
                for (int c = 0; c < classes; c++) {
                    double e = p[c] - (labels[i] == c ? 1 : 0);
                    for (int j = 0; j < d; j++) g[c][j] += e * z[i][j];
                    g[c][d] += e;
                }
            }
            for (int c = 0; c < classes; c++) {
                for (int j = 0; j <= d; j++) w[c][j] -= RATE * (g[c][j] / m + (j < d ? L2 * w[c][j] : 0));
            }
        }
        return w;
    }

    private static float[] softmax(double[][] w, double[] z) {
        int d = z.length, classes = w.length;
        double[] s = new double[classes];
        double max = Double.NEGATIVE_INFINITY;
        for (int c = 0; c < classes; c++) {
            double v = w[c][d];
            for (int j = 0; j < d; j++) v += w[c][j] * z[j];
            s[c] = v;
            max = Math.max(max, v);
        }
        double sum = 0;
        for (int c = 0; c < classes; c++) sum += s[c] = Math.exp(s[c] - max);
        float[] p = new float[classes];
        for (int c = 0; c < classes; c++) p[c] = (float) (s[c] / sum);
        return p;
    }
}
