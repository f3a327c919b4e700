package org.tune4j.bench;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * One line of a benchmark table and one object of its JSON. {@code rate} is in {@code unit} (GFLOP/s,
 * or ns/call for the downcall); {@code peer} names what was measured beside it in the same run, or says
 * why no peer ran (then {@code peer_median_ms} and {@code speedup_vs_peer} are null). {@code speedup_range}: where the
 * two took turns ({@link Measure.Blocks}), the lowest and highest speedup of a single block (each block's medians paired),
 * how steady the run's speedup was on a machine that has slow spells; null where the measurement had no turns.
 */
@JsonInclude(JsonInclude.Include.ALWAYS)
public record BenchRow(
        String suite,
        String kernel,
        String shape,
        String dtype,
        int threads,
        String backend,
        @JsonProperty("median_ms") double medianMs,
        double rate,
        String unit,
        String peer,
        @JsonProperty("peer_median_ms") Double peerMedianMs,
        @JsonProperty("speedup_vs_peer") Double speedupVsPeer,
        @JsonProperty("speedup_range") double[] speedupRange,
        @JsonProperty("pct_of_peak") Double pctOfPeak) {

    public BenchRow {
        if (speedupRange != null && (speedupRange.length != 2 || speedupVsPeer == null))
            throw new IllegalArgumentException("a speedup range is two values, beside a speedup");
        speedupRange = speedupRange == null ? null : speedupRange.clone();
    }

    /** A row without a speedup range (no blocks, or no peer). */
    public BenchRow(String suite, String kernel, String shape, String dtype, int threads, String backend, double medianMs, double rate, String unit,
            String peer, Double peerMedianMs, Double speedupVsPeer, Double pctOfPeak) {
        this(suite, kernel, shape, dtype, threads, backend, medianMs, rate, unit, peer, peerMedianMs, speedupVsPeer, null, pctOfPeak);
    }

    /** This row with the range of its speedup over the measurement's blocks (null: none). */
    BenchRow withSpeedupRange(double[] range) {
        return new BenchRow(suite, kernel, shape, dtype, threads, backend, medianMs, rate, unit, peer, peerMedianMs, speedupVsPeer, range, pctOfPeak);
    }

    /** This row with {@code more} after its shape (what was learnt after it was measured, say ops that fell back to the CPU). */
    BenchRow withShapeNote(String more) {
        return more.isEmpty() ? this
                : new BenchRow(suite, kernel, shape + more, dtype, threads, backend, medianMs, rate, unit, peer, peerMedianMs, speedupVsPeer, speedupRange, pctOfPeak);
    }

    /** A row of ours measured beside a peer that ran (peerMs) or did not (peerMs null, peer says why). */
    static BenchRow of(String suite, String kernel, String shape, int threads, String backend, double ms, double flops,
            String peer, Double peerMs, double peakGflops) {
        return of(suite, kernel, shape, "f32", threads, backend, ms, flops, "GFLOP/s", peer, peerMs, peakGflops);
    }

    /** The general form: {@code ops} operations (a multiply-add is 2) in {@code ms}, rate in G{@code unit}. */
    static BenchRow of(String suite, String kernel, String shape, String dtype, int threads, String backend, double ms,
            double ops, String unit, String peer, Double peerMs, double peak) {
        double rate = ops / (ms * 1e6);
        Double speedup = peerMs == null ? null : peerMs / ms;
        Double pct = peak > 0 ? 100.0 * rate / peak : null;
        return new BenchRow(suite, kernel, shape, dtype, threads, backend, ms, rate, unit, peer, peerMs, speedup, pct);
    }
}
