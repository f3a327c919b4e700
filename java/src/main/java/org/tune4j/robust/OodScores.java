package org.tune4j.robust;

import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.CholeskyDecomposition;

/**
 * Out-of-distribution scores of a classifier, each higher for inputs like the training data (ARCHITECTURE.md
 * "Robustness of the text model"): the maximum softmax probability (Hendrycks and Gimpel 2017), the negative
 * energy logsumexp(logits) (Liu et al. 2020), and the Mahalanobis score (Lee et al. 2018) on the encoder's pooled
 * vectors: minus the smallest squared Mahalanobis distance to a class mean under the covariance shared by the
 * classes, both fitted on training vectors; and the distance to the k-th nearest training vector ({@link NearestNeighbours}).
 * {@link #auroc} measures how well a score separates in from out.
 */
public final class OodScores {
    private OodScores() {}

    /** max softmax(logits) per row. */
    public static double[] maxSoftmax(float[][] logits) {
        double[] out = new double[logits.length];
        for (int i = 0; i < out.length; i++) {
            double m = max(logits[i]), z = 0;
            for (float v : logits[i]) z += Math.exp(v - m);
            out[i] = 1 / z; // exp(max - max) / z
        }
        return out;
    }

    /** logsumexp(logits) per row: the negative free energy at temperature 1. */
    public static double[] negativeEnergy(float[][] logits) {
        double[] out = new double[logits.length];
        for (int i = 0; i < out.length; i++) {
            double m = max(logits[i]), z = 0;
            for (float v : logits[i]) z += Math.exp(v - m);
            out[i] = m + Math.log(z);
        }
        return out;
    }

    private static double max(float[] row) {
        if (row.length == 0) throw new IllegalArgumentException("a row of logits is empty");
        double m = Double.NEGATIVE_INFINITY;
        for (float v : row) {
            if (!Float.isFinite(v)) throw new IllegalArgumentException("a logit is " + v + " (check the model's weights and inputs)");
            m = Math.max(m, v);
        }
        return m;
    }

    /** Class means and the inverse of their shared covariance, fitted on training vectors. */
    public static final class Mahalanobis {
        private final double[][] means;
        private final double[][] precision;

        /**
         * @param vectors training vectors [n][d]
         * @param labels their classes in [0, classes)
         * @param ridge added to the covariance's diagonal (relative to its mean variance), so that it inverts
         *     when n is not much larger than d
         */
        public Mahalanobis(float[][] vectors, int[] labels, int classes, double ridge) {
            if (vectors.length != labels.length || vectors.length < 2) throw new IllegalArgumentException(vectors.length + " vectors and " + labels.length + " labels: need as many, at least 2");
            int d = vectors[0].length;
            means = new double[classes][d];
            int[] count = new int[classes];
            for (int i = 0; i < vectors.length; i++) {
                if (labels[i] < 0 || labels[i] >= classes) throw new IllegalArgumentException("label " + labels[i] + " of vector " + i + " is not a class of " + classes);
                if (vectors[i].length != d) throw new IllegalArgumentException("vector " + i + " has " + vectors[i].length + " values, vector 0 " + d);
                count[labels[i]]++;
                for (int j = 0; j < d; j++) means[labels[i]][j] += vectors[i][j];
            }
            for (int c = 0; c < classes; c++) {
                if (count[c] == 0) throw new IllegalArgumentException("class " + c + " has no training vector");
                for (int j = 0; j < d; j++) means[c][j] /= count[c];
            }
            double[][] cov = new double[d][d];
            for (int i = 0; i < vectors.length; i++) {
                double[] m = means[labels[i]];
                for (int a = 0; a < d; a++) {
                    double da = vectors[i][a] - m[a];
                    for (int b = 0; b <= a; b++) cov[a][b] += da * (vectors[i][b] - m[b]);
                }
            }
            double trace = 0;
            for (int a = 0; a < d; a++) {
                for (int b = 0; b <= a; b++) cov[b][a] = cov[a][b] /= vectors.length;
                trace += cov[a][a];
            }
            for (int a = 0; a < d; a++) cov[a][a] += ridge * trace / d;
            precision = new CholeskyDecomposition(new Array2DRowRealMatrix(cov, false)).getSolver().getInverse().getData();
        }

        /** -min over classes of (x - mean)ᵀ Σ⁻¹ (x - mean), per row. */
        public double[] scores(float[][] vectors) {
            int d = means[0].length;
            double[] out = new double[vectors.length];
            double[] diff = new double[d];
            for (int i = 0; i < vectors.length; i++) {
                if (vectors[i].length != d) throw new IllegalArgumentException("vector " + i + " has " + vectors[i].length + " values, the fit " + d);
                double best = Double.POSITIVE_INFINITY;
                for (double[] m : means) {
                    for (int j = 0; j < d; j++) diff[j] = vectors[i][j] - m[j];
                    double q = 0;
                    for (int a = 0; a < d; a++) {
                        double s = 0;
                        double[] row = precision[a];
                        for (int b = 0; b < d; b++) s += row[b] * diff[b];
                        q += diff[a] * s;
                    }
                    best = Math.min(best, q);
                }
                out[i] = -best;
            }
            return out;
        }
    }

    /**
     * The deep nearest-neighbour score (Sun et al. 2022): vectors scaled to unit length, minus the distance to the
     * k-th nearest training vector. No density is assumed, so it holds where a Gaussian per class does not.
     */
    public static final class NearestNeighbours {
        private final float[][] train;
        private final int k;

        public NearestNeighbours(float[][] vectors, int k) {
            if (k < 1 || k > vectors.length) throw new IllegalArgumentException("k must be in [1, " + vectors.length + "], is " + k);
            train = new float[vectors.length][];
            for (int i = 0; i < vectors.length; i++) {
                if (vectors[i].length != vectors[0].length) throw new IllegalArgumentException("vector " + i + " has " + vectors[i].length + " values, vector 0 " + vectors[0].length);
                train[i] = unit(vectors[i]);
            }
            this.k = k;
        }

        public double[] scores(float[][] vectors) {
            double[] out = new double[vectors.length];
            double[] d = new double[train.length];
            for (int i = 0; i < vectors.length; i++) {
                if (vectors[i].length != train[0].length) throw new IllegalArgumentException("vector " + i + " has " + vectors[i].length + " values, the fit " + train[0].length);
                float[] u = unit(vectors[i]);
                for (int j = 0; j < train.length; j++) d[j] = EmbeddingDrift.squaredDistance(u, train[j]);
                java.util.Arrays.sort(d);
                out[i] = -Math.sqrt(d[k - 1]);
            }
            return out;
        }

        private static float[] unit(float[] v) {
            double n = 0;
            for (float x : v) n += (double) x * x;
            n = Math.sqrt(n);
            if (!(n > 0) || !Double.isFinite(n)) throw new IllegalArgumentException("a vector of norm " + n + " has no direction");
            float[] u = new float[v.length];
            for (int i = 0; i < v.length; i++) u[i] = (float) (v[i] / n);
            return u;
        }
    }

    /**
     * The area under the ROC curve of telling {@code in} (positive: higher scores) from {@code out}: the probability
     * that a random in-distribution score exceeds a random out-of-distribution one, ties counting half (the
     * Mann-Whitney statistic, from ranks).
     */
    public static double auroc(double[] in, double[] out) {
        if (in.length == 0 || out.length == 0) throw new IllegalArgumentException("AUROC needs scores of both kinds: " + in.length + " in, " + out.length + " out");
        int n = in.length + out.length;
        double[][] all = new double[n][];
        for (int i = 0; i < in.length; i++) all[i] = new double[] {in[i], 1};
        for (int i = 0; i < out.length; i++) all[in.length + i] = new double[] {out[i], 0};
        for (double[] a : all) if (Double.isNaN(a[0])) throw new IllegalArgumentException("a score is NaN");
        java.util.Arrays.sort(all, (a, b) -> Double.compare(a[0], b[0]));
        double rankSumIn = 0;
        for (int i = 0; i < n; ) {
            int j = i;
            while (j < n && all[j][0] == all[i][0]) j++;
            double rank = (i + 1 + j) / 2.0; // ties share their mean rank
            for (int k = i; k < j; k++) if (all[k][1] == 1) rankSumIn += rank;
            i = j;
        }
        return (rankSumIn - (double) in.length * (in.length + 1) / 2) / ((double) in.length * out.length);
    }

    /**
     * The ROC curve of telling {@code in} from {@code out} (in: higher scores), at most {@code points} + 1 points from
     * (0, 0) to (1, 1): {false positive rates, true positive rates}, every threshold between distinct scores, thinned evenly.
     */
    public static double[][] rocCurve(double[] in, double[] out, int points) {
        if (in.length == 0 || out.length == 0) throw new IllegalArgumentException("a ROC curve needs scores of both kinds: " + in.length + " in, " + out.length + " out");
        if (points < 1) throw new IllegalArgumentException("points must be >= 1, is " + points);
        double[] all = new double[in.length + out.length];
        System.arraycopy(in, 0, all, 0, in.length);
        System.arraycopy(out, 0, all, in.length, out.length);
        double[] thresholds = java.util.Arrays.stream(all).distinct().sorted().toArray();
        double[] si = in.clone(), so = out.clone();
        java.util.Arrays.sort(si);
        java.util.Arrays.sort(so);
        int m = thresholds.length; // threshold j: called "in" when score >= thresholds[j]; j = m: nothing called in
        int keep = Math.min(points, m);
        double[] fpr = new double[keep + 1], tpr = new double[keep + 1];
        for (int p = 0; p <= keep; p++) {
            int j = m - (int) Math.round((double) p * m / keep); // from nothing called in (p = 0) to everything (p = keep)
            double t = j == m ? Double.POSITIVE_INFINITY : thresholds[j];
            tpr[p] = (double) (si.length - lowerBound(si, t)) / si.length;
            fpr[p] = (double) (so.length - lowerBound(so, t)) / so.length;
        }
        return new double[][] {fpr, tpr};
    }

    /** The first index whose value is >= t in a sorted array. */
    private static int lowerBound(double[] sorted, double t) {
        int lo = 0, hi = sorted.length;
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (sorted[mid] < t) lo = mid + 1;
            else hi = mid;
        }
        return lo;
    }
}
