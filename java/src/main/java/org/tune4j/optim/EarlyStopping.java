package org.tune4j.optim;

/** Stops training when the validation metric (higher is better) has not improved for {@code patience} evaluations. */
public final class EarlyStopping {
    private final int patience;
    private final double minDelta;
    private double best = Double.NEGATIVE_INFINITY;
    private int bad;

    public EarlyStopping(int patience, double minDelta) {
        this.patience = patience;
        this.minDelta = minDelta;
    }

    /** Records a metric; true when training should stop. */
    public boolean observe(double metric) {
        if (metric > best + minDelta) {
            best = metric;
            bad = 0;
            return false;
        }
        return ++bad >= patience;
    }

    public double best() {
        return best;
    }
}
