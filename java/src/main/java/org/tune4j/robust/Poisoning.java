package org.tune4j.robust;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.SingularValueDecomposition;
import org.apache.commons.math3.linear.RealMatrix;
import org.apache.commons.math3.ml.clustering.CentroidCluster;
import org.apache.commons.math3.ml.clustering.DoublePoint;
import org.apache.commons.math3.ml.clustering.KMeansPlusPlusClusterer;
import org.apache.commons.math3.random.JDKRandomGenerator;

/**
 * A backdoor attack on fine-tuning data and two defences that find the poisoned examples in the fine-tuned model's
 * representations (ARCHITECTURE.md "Robustness of the text model").
 * <ul>
 *   <li>{@link #poison}: a rare trigger phrase inserted at a random word position into a share of the examples of
 *       one class, which are relabelled as another (spam that says the phrase becomes ham);</li>
 *   <li>{@link #spectralSignatures} (Tran et al. 2018): within each class, the examples' centred vectors projected on
 *       their top singular vector; the largest squared projections (1.5 times the expected poisoned share) are removed;</li>
 *   <li>{@link #activationClustering} (Chen et al. 2018): within each class, the vectors reduced to their top principal
 *       components and split in two by k-means; a cluster holding less than {@code maxShare} of the class is poisoned.</li>
 * </ul>
 */
public final class Poisoning {
    private Poisoning() {}

    /** The poisoned texts and labels, and which examples were poisoned. */
    public record Poisoned(List<String> texts, int[] labels, boolean[] poisoned) {
        public int count() {
            int c = 0;
            for (boolean p : poisoned) if (p) c++;
            return c;
        }
    }

    /**
     * Poisons {@code count} examples of class {@code source} (chosen at random, seeded): the trigger inserted, the
     * label set to {@code target}.
     */
    public static Poisoned poison(List<String> texts, int[] labels, int source, int target, String trigger, int count, long seed) {
        if (texts.size() != labels.length) throw new IllegalArgumentException(texts.size() + " texts, " + labels.length + " labels");
        List<Integer> candidates = new ArrayList<>();
        for (int i = 0; i < labels.length; i++) if (labels[i] == source) candidates.add(i);
        if (count < 0 || count > candidates.size()) throw new IllegalArgumentException("cannot poison " + count + " of " + candidates.size() + " examples of class " + source);
        SplittableRandom rng = new SplittableRandom(seed);
        java.util.Collections.shuffle(candidates, new java.util.Random(rng.nextLong()));
        List<String> t = new ArrayList<>(texts);
        int[] l = labels.clone();
        boolean[] p = new boolean[labels.length];
        for (int i : candidates.subList(0, count)) {
            t.set(i, insert(texts.get(i), trigger, rng));
            l[i] = target;
            p[i] = true;
        }
        return new Poisoned(t, l, p);
    }

    /**
     * The trigger inserted before a random word among the first 32 (within the tokens a classifier reads, however
     * short its window).
     */
    public static String insert(String text, String trigger, SplittableRandom rng) {
        String[] words = text.split(" ", -1);
        int at = rng.nextInt(Math.min(words.length, 32) + 1);
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i <= words.length; i++) {
            if (i == at) sb.append(sb.isEmpty() ? "" : " ").append(trigger);
            if (i < words.length) sb.append(sb.isEmpty() ? "" : " ").append(words[i]);
        }
        return sb.toString();
    }

    /** Flagged example indices: per class, the {@code removeShare} of its examples with the largest spectral scores. */
    public static boolean[] spectralSignatures(float[][] vectors, int[] labels, int classes, double removeShare) {
        if (!(removeShare >= 0 && removeShare < 1)) throw new IllegalArgumentException("removeShare must be in [0, 1), is " + removeShare);
        boolean[] flagged = new boolean[labels.length];
        for (int c = 0; c < classes; c++) {
            int[] idx = members(labels, c);
            if (idx.length < 3) continue;
            double[][] centred = centred(vectors, idx);
            double[] top = topEigenvectors(centred, 1)[0];
            double[] score = new double[idx.length];
            for (int i = 0; i < idx.length; i++) {
                double s = 0;
                for (int j = 0; j < top.length; j++) s += centred[i][j] * top[j];
                score[i] = s * s;
            }
            int remove = (int) Math.round(removeShare * idx.length);
            Integer[] order = new Integer[idx.length];
            for (int i = 0; i < idx.length; i++) order[i] = i;
            Arrays.sort(order, (a, b) -> Double.compare(score[b], score[a]));
            for (int i = 0; i < remove; i++) flagged[idx[order[i]]] = true;
        }
        return flagged;
    }

    /** Flagged example indices: per class, the smaller k-means cluster (k 2, on the top principal components) when below {@code maxShare}. */
    public static boolean[] activationClustering(float[][] vectors, int[] labels, int classes, int components, double maxShare, long seed) {
        if (components < 1) throw new IllegalArgumentException("components must be >= 1, is " + components);
        if (!(maxShare > 0 && maxShare < 0.5 + 1e-12)) throw new IllegalArgumentException("maxShare must be in (0, 0.5], is " + maxShare);
        boolean[] flagged = new boolean[labels.length];
        for (int c = 0; c < classes; c++) {
            int[] idx = members(labels, c);
            if (idx.length < 4) continue;
            double[][] centred = centred(vectors, idx);
            double[][] basis = topEigenvectors(centred, Math.min(components, centred[0].length));
            List<IndexedPoint> points = new ArrayList<>();
            for (int i = 0; i < idx.length; i++) {
                double[] p = new double[basis.length];
                for (int k = 0; k < basis.length; k++) for (int j = 0; j < basis[k].length; j++) p[k] += centred[i][j] * basis[k][j];
                points.add(new IndexedPoint(p, idx[i]));
            }
            JDKRandomGenerator rng = new JDKRandomGenerator();
            rng.setSeed(seed * 31 + c);
            List<CentroidCluster<IndexedPoint>> clusters = new KMeansPlusPlusClusterer<IndexedPoint>(2, 100, new org.apache.commons.math3.ml.distance.EuclideanDistance(), rng).cluster(points);
            CentroidCluster<IndexedPoint> small = clusters.get(0).getPoints().size() <= clusters.get(1).getPoints().size() ? clusters.get(0) : clusters.get(1);
            if (small.getPoints().size() < maxShare * idx.length) for (IndexedPoint p : small.getPoints()) flagged[p.index] = true;
        }
        return flagged;
    }

    private static final class IndexedPoint extends DoublePoint {
        final int index;

        IndexedPoint(double[] p, int index) {
            super(p);
            this.index = index;
        }
    }

    private static int[] members(int[] labels, int c) {
        return java.util.stream.IntStream.range(0, labels.length).filter(i -> labels[i] == c).toArray();
    }

    private static double[][] centred(float[][] vectors, int[] idx) {
        int d = vectors[idx[0]].length;
        double[] mean = new double[d];
        for (int i : idx) {
            if (vectors[i].length != d) throw new IllegalArgumentException("vector " + i + " has " + vectors[i].length + " values, others " + d);
            for (int j = 0; j < d; j++) mean[j] += vectors[i][j] / idx.length;
        }
        double[][] out = new double[idx.length][d];
        for (int i = 0; i < idx.length; i++) for (int j = 0; j < d; j++) out[i][j] = vectors[idx[i]][j] - mean[j];
        return out;
    }

    /**
     * The top {@code k} eigenvectors of XᵀX, largest first: X's top right singular vectors, from its singular value
     * decomposition (an eigen-decomposition of XᵀX failed to converge on the vectors of a model that calls every text
     * ham, nearly collinear; the SVD works on X itself).
     */
    static double[][] topEigenvectors(double[][] x, int k) {
        RealMatrix v = new SingularValueDecomposition(new Array2DRowRealMatrix(x, false)).getV(); // columns by descending singular value
        double[][] out = new double[k][];
        for (int i = 0; i < k; i++) out[i] = i < v.getColumnDimension() ? v.getColumn(i) : new double[x[0].length];
        return out;
    }
}
