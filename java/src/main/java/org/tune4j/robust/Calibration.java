package org.tune4j.robust;

/**
 * Expected calibration error (Guo et al. 2017): predictions are put in {@value #BINS} equal-width bins
 * by confidence; ECE = Σ_b (n_b / n) · |accuracy_b − confidence_b|. The bins are also the data of a
 * reliability diagram.
 */
public final class Calibration {
    public static final int BINS = 15;

    /** One bin of the reliability diagram: its confidence range, count, mean confidence and accuracy. */
    public record Bin(double lower, double upper, long count, double confidence, double accuracy) {}

    /** ECE and the diagram. */
    public record Result(double ece, Bin[] bins) {}

    private Calibration() {}

    /** From each prediction's confidence (its top probability) and whether it was right. */
    public static Result of(double[] confidence, boolean[] correct) {
        if (confidence.length != correct.length) throw new IllegalArgumentException(confidence.length + " confidences, " + correct.length + " outcomes");
        if (confidence.length == 0) throw new IllegalArgumentException("calibration of no predictions");
        long[] count = new long[BINS];
        double[] conf = new double[BINS], acc = new double[BINS];
        for (int i = 0; i < confidence.length; i++) {
            double c = confidence[i];
            if (!(c >= 0 && c <= 1)) throw new IllegalArgumentException("confidence " + c + " of prediction " + i + " is not in [0, 1]");
            int b = Math.min(BINS - 1, (int) (c * BINS));
            count[b]++;
            conf[b] += c;
            acc[b] += correct[i] ? 1 : 0;
        }
        double ece = 0;
        Bin[] bins = new Bin[BINS];
        for (int b = 0; b < BINS; b++) {
            double meanConf = count[b] == 0 ? 0 : conf[b] / count[b], meanAcc = count[b] == 0 ? 0 : acc[b] / count[b];
            bins[b] = new Bin((double) b / BINS, (double) (b + 1) / BINS, count[b], meanConf, meanAcc);
            ece += (double) count[b] / confidence.length * Math.abs(meanAcc - meanConf);
        }
        return new Result(ece, bins);
    }
}
