package org.tune4j.serve;

import java.util.Arrays;
import java.util.function.IntConsumer;

/** Latency percentiles of single calls: what a service sees at batch 1. */
public record Latency(double p50Ms, double p99Ms, int calls) {
    /** Times {@code calls} calls of {@code call} (given the call number) after as many untimed ones (warm-up, JIT). */
    public static Latency measure(int calls, IntConsumer call) {
        if (calls < 1) throw new IllegalArgumentException("calls must be >= 1, is " + calls);
        for (int i = 0; i < calls; i++) call.accept(i);
        double[] ms = new double[calls];
        for (int i = 0; i < calls; i++) {
            long t0 = System.nanoTime();
            call.accept(i);
            ms[i] = (System.nanoTime() - t0) / 1e6;
        }
        Arrays.sort(ms);
        return new Latency(percentile(ms, 0.50), percentile(ms, 0.99), calls);
    }

    /** The nearest-rank percentile: the smallest value with at least a fraction q of the sorted values at or below it. */
    public static double percentile(double[] sorted, double q) {
        if (sorted.length == 0) throw new IllegalArgumentException("no values");
        int rank = (int) Math.ceil(q * sorted.length);
        return sorted[Math.max(0, Math.min(sorted.length - 1, rank - 1))];
    }
}
