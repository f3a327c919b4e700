package org.tune4j.robust;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.apache.commons.math3.distribution.BinomialDistribution;
import org.apache.commons.math3.stat.inference.KolmogorovSmirnovTest;

/**
 * Drift of a text model's inputs and outputs, batch by batch, against a reference sample from the era it was
 * trained on (ARCHITECTURE.md "Robustness of the text model"). Three tests per batch, each with a p-value:
 * <ul>
 *   <li>the encoder's pooled vectors: the maximum mean discrepancy (Gretton et al. 2012) with a Gaussian kernel
 *       whose width is the median distance within the reference, its p-value from a seeded permutation test;</li>
 *   <li>the prediction confidence (the top class's probability): the two-sample Kolmogorov-Smirnov test;</li>
 *   <li>the predicted-label mix: the exact two-sided binomial test of the batch's count of each class against the
 *       reference's share (the smallest p over classes, Bonferroni-corrected).</li>
 * </ul>
 * A batch warns when the smallest p-value is below {@code warnP / 3} and alerts below {@code alertP / 3}
 * (Bonferroni over the three tests), so a batch from the reference era alerts with probability at most alertP.
 */
public final class EmbeddingDrift {
    public enum Level { OK, WARN, ALERT }

    /** One batch: the three p-values, the MMD² estimate and the level. */
    public record Report(int batch, double mmd2, double embeddingP, double confidenceP, double labelMixP, double[] predictedShare, Level level) {
        public double minP() {
            return Math.min(embeddingP, Math.min(confidenceP, labelMixP));
        }
    }

    /** {@code permutations} of the MMD test (p-values resolve to 1 / (permutations + 1)). */
    public record Options(double warnP, double alertP, int permutations, long seed) {
        public Options {
            if (!(alertP > 0 && alertP <= warnP && warnP < 1)) throw new IllegalArgumentException("need 0 < alertP <= warnP < 1, got " + alertP + ", " + warnP);
            if (permutations + 1 < 3 / alertP) {
                throw new IllegalArgumentException(permutations + " permutations cannot give the embedding test a p-value below alertP / 3 = " + alertP / 3 + ": take at least " + (int) Math.ceil(3 / alertP));
            }
        }

        /** Warn at 1%, alert at 0.1% (each over the three tests), 5,000 permutations (p resolves to 0.0002, below 0.001 / 3). */
        public static Options defaults() {
            return new Options(0.01, 0.001, 5000, 1);
        }
    }

    private final float[][] reference;
    private final double[] referenceConfidence;
    private final double[] referenceShare;
    private final double gamma;
    private final Options options;
    private int batches;

    /**
     * @param embeddings the reference's pooled vectors [n][d]
     * @param probabilities the model's class probabilities on the same texts [n][classes]
     */
    public EmbeddingDrift(float[][] embeddings, float[][] probabilities, Options options) {
        if (embeddings.length < 10) throw new IllegalArgumentException("the reference needs at least 10 texts, has " + embeddings.length);
        if (probabilities.length != embeddings.length) throw new IllegalArgumentException(embeddings.length + " reference vectors but " + probabilities.length + " probability rows");
        requireRectangular("reference vectors", embeddings);
        requireRectangular("reference probabilities", probabilities);
        this.reference = embeddings.clone();
        this.options = options;
        referenceConfidence = confidence(probabilities);
        referenceShare = share(predicted(probabilities), probabilities[0].length);
        gamma = 1 / medianSquaredDistance(reference);
    }

    /** Tests one batch (its vectors and probabilities, rows paired). */
    public Report observe(float[][] embeddings, float[][] probabilities) {
        if (embeddings.length < 2) throw new IllegalArgumentException("a batch needs at least 2 texts, has " + embeddings.length);
        if (probabilities.length != embeddings.length) throw new IllegalArgumentException(embeddings.length + " vectors but " + probabilities.length + " probability rows");
        requireRectangular("batch vectors", embeddings);
        requireRectangular("batch probabilities", probabilities);
        if (embeddings[0].length != reference[0].length) throw new IllegalArgumentException("batch vectors have " + embeddings[0].length + " values, the reference " + reference[0].length);
        if (probabilities[0].length != referenceShare.length) throw new IllegalArgumentException("batch has " + probabilities[0].length + " classes, the reference " + referenceShare.length);
        int batch = batches++;
        double[] mmd = mmdPermutationTest(reference, embeddings, gamma, options.permutations(), new SplittableRandom(options.seed() * 7919 + batch));
        double confP = new KolmogorovSmirnovTest().kolmogorovSmirnovTest(referenceConfidence, confidence(probabilities));
        int[] pred = predicted(probabilities);
        int classes = referenceShare.length;
        double[] share = share(pred, classes);
        int[] count = new int[classes];
        for (int l : pred) count[l]++;
        double labelP = 1;
        for (int c = 0; c < classes; c++) labelP = Math.min(labelP, binomialTwoSided(count[c], pred.length, referenceShare[c]));
        labelP = Math.min(1, labelP * classes);
        double minP = Math.min(mmd[1], Math.min(confP, labelP));
        Level level = minP < options.alertP() / 3 ? Level.ALERT : minP < options.warnP() / 3 ? Level.WARN : Level.OK;
        return new Report(batch, mmd[0], mmd[1], confP, labelP, share, level);
    }

    /**
     * The biased MMD² estimate of samples x and y with k(a, b) = exp(-gamma |a - b|²), and its permutation p-value
     * (the share of random relabellings of the pooled sample with an MMD² at least as large, the observed one counted).
     * The kernel matrix K of the pooled sample and its row sums r are computed once; a relabelling then needs only the
     * sums over the y group S: with T = Σ K, R = Σ_{i∈S} r_i and Q = Σ_{i,j∈S} K_ij, the x-x sum is T - 2R + Q and the
     * x-y sum R - Q, so a permutation costs |y|² instead of (|x| + |y|)².
     */
    static double[] mmdPermutationTest(float[][] x, float[][] y, double gamma, int permutations, SplittableRandom rng) {
        int n = x.length + y.length, ny = y.length;
        float[][] all = new float[n][];
        System.arraycopy(x, 0, all, 0, x.length);
        System.arraycopy(y, 0, all, x.length, ny);
        double[][] k = new double[n][n];
        double[] rowSum = new double[n];
        double total = 0;
        for (int i = 0; i < n; i++) {
            k[i][i] = 1;
            for (int j = 0; j < i; j++) k[i][j] = k[j][i] = Math.exp(-gamma * squaredDistance(all[i], all[j]));
        }
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) rowSum[i] += k[i][j];
            total += rowSum[i];
        }
        int[] order = new int[n];
        for (int i = 0; i < n; i++) order[i] = i;
        double observed = mmd2(k, rowSum, total, order, n - ny, x.length, ny);
        int atLeast = 1;
        for (int p = 0; p < permutations; p++) {
            for (int i = n - 1; i >= n - ny; i--) { // the last ny places of a Fisher-Yates shuffle: a uniform random y group
                int j = rng.nextInt(i + 1), t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
            if (mmd2(k, rowSum, total, order, n - ny, x.length, ny) >= observed) atLeast++;
        }
        return new double[] {observed, (double) atLeast / (permutations + 1)};
    }

    /** MMD² when the y group is order[from ..]: mean k(x, x') + mean k(y, y') - 2 mean k(x, y). */
    private static double mmd2(double[][] k, double[] rowSum, double total, int[] order, int from, int nx, int ny) {
        double r = 0, q = 0;
        for (int a = from; a < order.length; a++) {
            int i = order[a];
            r += rowSum[i];
            double[] row = k[i];
            for (int b = from; b < order.length; b++) q += row[order[b]];
        }
        double xx = total - 2 * r + q, xy = r - q;
        return xx / ((double) nx * nx) + q / ((double) ny * ny) - 2 * xy / ((double) nx * ny);
    }

    /** The median of |a - b|² over the pairs of the sample (a subsample of 200 rows when larger): the kernel's width. */
    static double medianSquaredDistance(float[][] v) {
        int m = Math.min(v.length, 200);
        double[] d = new double[m * (m - 1) / 2];
        int c = 0;
        for (int i = 0; i < m; i++) for (int j = 0; j < i; j++) d[c++] = squaredDistance(v[i * v.length / m], v[j * v.length / m]);
        Arrays.sort(d);
        double med = d[d.length / 2];
        if (!(med > 0)) throw new IllegalArgumentException("the reference vectors are all equal (median distance " + med + "): no kernel width to take");
        return med;
    }

    static double squaredDistance(float[] a, float[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            double d = a[i] - b[i];
            s += d * d;
        }
        return s;
    }

    /** P(X as or more extreme than k) for X ~ Binomial(n, p), two-sided by summing the masses no larger than k's. */
    static double binomialTwoSided(int k, int n, double p) {
        if (p <= 0) return k == 0 ? 1 : 0;
        if (p >= 1) return k == n ? 1 : 0;
        BinomialDistribution b = new BinomialDistribution(null, n, p);
        double pk = b.probability(k) * (1 + 1e-9), sum = 0;
        for (int i = 0; i <= n; i++) {
            double pi = b.probability(i);
            if (pi <= pk) sum += pi;
        }
        return Math.min(1, sum);
    }

    static double[] confidence(float[][] probabilities) {
        double[] c = new double[probabilities.length];
        for (int i = 0; i < c.length; i++) {
            double m = 0;
            for (float v : probabilities[i]) m = Math.max(m, v);
            c[i] = m;
        }
        return c;
    }

    static int[] predicted(float[][] probabilities) {
        int[] out = new int[probabilities.length];
        for (int i = 0; i < out.length; i++) {
            int best = 0;
            for (int c = 1; c < probabilities[i].length; c++) if (probabilities[i][c] > probabilities[i][best]) best = c;
            out[i] = best;
        }
        return out;
    }

    private static double[] share(int[] labels, int classes) {
        double[] s = new double[classes];
        for (int l : labels) s[l] += 1.0 / labels.length;
        return s;
    }

    private static void requireRectangular(String what, float[][] rows) {
        int d = rows[0].length;
        if (d == 0) throw new IllegalArgumentException(what + " are empty rows");
        for (int i = 0; i < rows.length; i++) {
            if (rows[i].length != d) throw new IllegalArgumentException(what + ": row " + i + " has " + rows[i].length + " values, row 0 " + d);
            for (float v : rows[i]) if (!Float.isFinite(v)) throw new IllegalArgumentException(what + ": row " + i + " holds " + v + " (check the model's weights and inputs)");
        }
    }
}
