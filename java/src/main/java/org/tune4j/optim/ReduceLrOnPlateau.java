package org.tune4j.optim;

/**
 * ReduceLROnPlateau (PyTorch's, mode "max"): when the validation metric has not improved by more than
 * {@code threshold} for {@code patience} evaluations, the learning rate is multiplied by {@code factor}.
 */
public final class ReduceLrOnPlateau {
    private final float factor, threshold, minLr;
    private final int patience;
    private float lr;
    private double best = Double.NEGATIVE_INFINITY;
    private int bad;

    public ReduceLrOnPlateau(float lr, float factor, int patience, float threshold, float minLr) {
        this.lr = lr;
        this.factor = factor;
        this.patience = patience;
        this.threshold = threshold;
        this.minLr = minLr;
    }

    /** Records a validation metric (higher is better); returns the learning rate to use next. */
    public float observe(double metric) {
        if (metric > best + threshold) {
            best = metric;
            bad = 0;
        } else if (++bad > patience) {
            lr = Math.max(minLr, lr * factor);
            bad = 0;
        }
        return lr;
    }

    public float lr() {
        return lr;
    }
}
