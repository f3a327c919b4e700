package org.tune4j.robust;

import java.util.ArrayList;
import java.util.List;
import org.tune4j.data.ImageDataset;

/**
 * Data checks that catch silent problems: near-duplicates between splits (a test set that leaks into
 * training flatters every metric) by a 64-bit difference hash (dHash) within a Hamming distance, and
 * label issues in the manner of confident learning (Northcutt et al. 2021): samples whose given label
 * has a predicted probability below its class's mean self-confidence while another class's probability
 * is above that class's threshold.
 */
public final class DataQuality {
    /** A test image with a near-copy in the training set: hash distance and mean absolute pixel difference (0-255). */
    public record Duplicate(int testIndex, int trainIndex, int hammingDistance, double pixelDifference) {}

    /** A sample whose label the model confidently contradicts. */
    public record LabelIssue(int index, int givenLabel, int suggestedLabel, double givenProbability, double suggestedProbability) {}

    private DataQuality() {}

    /** dHash: the image reduced to 9x8 by area averaging, one bit per horizontal neighbour comparison. */
    public static long dhash(ImageDataset data, int i) {
        int h = data.height(), w = data.width();
        double[] small = new double[9 * 8];
        int[] count = new int[9 * 8];
        for (int r = 0; r < h; r++)
            for (int c = 0; c < w; c++) {
                int sr = r * 8 / h, sc = c * 9 / w;
                small[sr * 9 + sc] += data.pixel(i, r * w + c);
                count[sr * 9 + sc]++;
            }
        long bits = 0;
        for (int r = 0; r < 8; r++)
            for (int c = 0; c < 8; c++) {
                double left = small[r * 9 + c] / count[r * 9 + c], right = small[r * 9 + c + 1] / count[r * 9 + c + 1];
                bits = (bits << 1) | (left > right ? 1 : 0);
            }
        return bits;
    }

    /**
     * Test images with a training image within {@code maxDistance} bits of dHash and, to confirm (on
     * small grey images many different pictures share most hash bits), a mean absolute pixel difference
     * of at most {@code maxPixelDifference} (0-255). Each test image is compared with every training hash
     * (64-bit XOR and popcount), the candidates with their pixels.
     */
    public static List<Duplicate> duplicates(ImageDataset train, ImageDataset test, int maxDistance, double maxPixelDifference) {
        if (maxDistance < 0 || maxDistance > 64) throw new IllegalArgumentException("maxDistance is a Hamming distance of 64-bit hashes, in [0, 64]; is " + maxDistance);
        if (!(maxPixelDifference >= 0)) throw new IllegalArgumentException("maxPixelDifference must be >= 0, is " + maxPixelDifference);
        long[] trainHash = new long[train.size()];
        for (int i = 0; i < train.size(); i++) trainHash[i] = dhash(train, i);
        List<Duplicate> out = new ArrayList<>();
        for (int t = 0; t < test.size(); t++) {
            long h = dhash(test, t);
            Duplicate best = null;
            for (int i = 0; i < trainHash.length; i++) {
                int d = Long.bitCount(h ^ trainHash[i]);
                if (d > maxDistance) continue;
                double diff = pixelDifference(train, i, test, t);
                if (diff <= maxPixelDifference && (best == null || diff < best.pixelDifference())) best = new Duplicate(t, i, d, diff);
            }
            if (best != null) out.add(best);
        }
        return out;
    }

    private static double pixelDifference(ImageDataset a, int i, ImageDataset b, int j) {
        long sum = 0;
        for (int p = 0; p < a.pixelsPerImage(); p++) sum += Math.abs(a.pixel(i, p) - b.pixel(j, p));
        return (double) sum / a.pixelsPerImage();
    }

    /**
     * Confident-learning label issues from out-of-sample probabilities {@code probs[i][class]} (from a
     * model that did not train on sample i) and the given labels.
     */
    public static List<LabelIssue> labelIssues(float[][] probs, int[] labels, int classes) {
        if (probs.length != labels.length) throw new IllegalArgumentException(probs.length + " probability rows for " + labels.length + " labels");
        for (int i = 0; i < labels.length; i++) {
            if (labels[i] < 0 || labels[i] >= classes) throw new IllegalArgumentException("label " + labels[i] + " of example " + i + " is not one of " + classes + " classes");
            if (probs[i].length != classes) throw new IllegalArgumentException("example " + i + " has " + probs[i].length + " probabilities for " + classes + " classes");
        }
        double[] sum = new double[classes];
        int[] count = new int[classes];
        for (int i = 0; i < labels.length; i++) {
            sum[labels[i]] += probs[i][labels[i]];
            count[labels[i]]++;
        }
        double[] threshold = new double[classes];
        for (int c = 0; c < classes; c++) threshold[c] = count[c] == 0 ? 1 : sum[c] / count[c];
        List<LabelIssue> out = new ArrayList<>();
        for (int i = 0; i < labels.length; i++) {
            int given = labels[i], best = -1;
            for (int c = 0; c < classes; c++) {
                if (c != given && probs[i][c] >= threshold[c] && (best < 0 || probs[i][c] > probs[i][best])) best = c;
            }
            if (best >= 0 && probs[i][given] < threshold[given]) out.add(new LabelIssue(i, given, best, probs[i][given], probs[i][best]));
        }
        out.sort((a, b) -> Double.compare(a.givenProbability(), b.givenProbability()));
        return out;
    }
}
