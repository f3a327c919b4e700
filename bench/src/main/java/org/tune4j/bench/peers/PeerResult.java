package org.tune4j.bench.peers;

import org.tune4j.bench.Measure;

/**
 * What one peer's measurement gave, for every kind of peer (GEMM, int8, LoRA layer, training step): the peer's median in
 * ms, or null with {@code whyNot}, the reason it could not be measured; {@code oursMs}: tune4j's median of the same work
 * timed in alternation with the peer's ({@link Measure#alternatedBlocks}), null where the peer failed;
 * {@code speedupRange}: the lowest and highest peer / ours of one block ({@link Measure.Blocks#ratioRange}), null wherever
 * {@code oursMs} is, so a suite takes it as it is.
 */
public record PeerResult(String peer, Double medianMs, String whyNot, Double oursMs, double[] speedupRange) {
    /** A peer that could not be measured, and why. */
    public static PeerResult failed(String peer, String whyNot) {
        return new PeerResult(peer, null, whyNot, null, null);
    }

    /** The peer's name for a bench row: with the reason where it could not be measured. */
    public String label() {
        return medianMs != null ? peer : peer + ": " + whyNot;
    }

    /** Our median timed beside the peer's, or {@code alone}, ours timed by itself, where the peer failed. */
    public double oursMsOr(double alone) {
        return oursMs != null ? oursMs : alone;
    }

    /** The peer's and our medians and the speedup's range from blocks timed with the peer's work as piece 0, ours as 1. */
    public static PeerResult of(String peer, Measure.Blocks b) {
        return new PeerResult(peer, b.medianMs()[0], null, b.medianMs()[1], b.ratioRange(0, 1));
    }
}
