package org.tune4j.optim;

/** Learning rate as a function of the step (counted from 0). */
@FunctionalInterface
public interface LrSchedule {
    float lr(long step);

    /** Linear warmup to {@code peak} over {@code warmup} steps, then a cosine down to {@code floor} at {@code total}. */
    static LrSchedule warmupCosine(float peak, long warmup, long total, float floor) {
        requireRate("peak", peak);
        requireRate("floor", floor);
        if (warmup < 0 || total < 1) throw new IllegalArgumentException("warmup must be >= 0 and total >= 1, are " + warmup + ", " + total);
        return step -> {
            if (step < warmup) return peak * (step + 1) / warmup;
            double progress = Math.min(1.0, (double) (step - warmup) / Math.max(1, total - warmup));
            return (float) (floor + (peak - floor) * 0.5 * (1 + Math.cos(Math.PI * progress)));
        };
    }

    /** Linear warmup to {@code peak} over {@code warmup} steps, then linear decay to 0 at {@code total} (BERT's schedule). */
    static LrSchedule warmupLinear(float peak, long warmup, long total) {
        requireRate("peak", peak);
        if (warmup < 0 || total < 1) throw new IllegalArgumentException("warmup must be >= 0 and total >= 1, are " + warmup + ", " + total);
        return step -> step < warmup ? peak * (step + 1) / warmup : (float) (peak * Math.max(0.0, (double) (total - step) / Math.max(1, total - warmup)));
    }

    /** Linear decay from {@code peak} to 0 at {@code total}. */
    static LrSchedule linear(float peak, long total) {
        requireRate("peak", peak);
        if (total < 1) throw new IllegalArgumentException("total must be >= 1, is " + total);
        return step -> (float) (peak * Math.max(0.0, 1.0 - (double) step / total));
    }

    /** A learning rate: finite and >= 0 (a NaN would train a model of NaNs without a word). */
    private static void requireRate(String name, float lr) {
        if (!(lr >= 0 && lr < Float.POSITIVE_INFINITY)) throw new IllegalArgumentException(name + " learning rate must be finite and >= 0, is " + lr);
    }
}
