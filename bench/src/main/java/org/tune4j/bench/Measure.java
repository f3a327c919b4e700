package org.tune4j.bench;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Times a piece of work: a few warm-up runs, then repeated runs until both a minimum count and a
 * minimum total time are reached; reports the median (robust to the noise of a shared machine).
 */
public final class Measure {
    private static final long BLOCK_PAUSE_MS = 100;
    /** Runs of consecutive rounds of {@link #interleaved} taken as its blocks, whose medians pair up in {@link Blocks#ratioRange}. */
    private static final int INTERLEAVED_BLOCKS = 5;
    private final int warmup;
    private final int minRuns;
    private final double minSeconds;

    public Measure(int warmup, int minRuns, double minSeconds) {
        this.warmup = warmup;
        this.minRuns = minRuns;
        this.minSeconds = minSeconds;
    }

    /** The default for the bench command; quick mode trades precision for time. */
    public static Measure standard(boolean quick) {
        return quick ? new Measure(1, 3, 0.15) : new Measure(2, 7, 0.6);
    }

    /** Median wall time of one run of {@code work}, in milliseconds. */
    public double medianMs(Runnable work) {
        for (int i = 0; i < warmup; i++) work.run();
        double[] times = new double[1024];
        int n = 0;
        long start = System.nanoTime();
        while (n < times.length && (n < minRuns || (System.nanoTime() - start) < minSeconds * 1e9)) {
            long t0 = System.nanoTime();
            work.run();
            times[n++] = (System.nanoTime() - t0) / 1e6;
        }
        return median(Arrays.copyOf(times, n));
    }

    /**
     * The median times of several pieces of work measured in alternation: each round runs every piece once, so a
     * slow spell of a shared machine falls on all of them alike and their ratios hold (one piece measured after
     * another can differ by 10% on a noisy VM). Rounds: at least this measure's minimum, until the total time.
     */
    public double[] interleavedMedianMs(Runnable... work) {
        return interleaved(work).medianMs();
    }

    /**
     * {@link #interleavedMedianMs}, with the rounds cut into up to five runs of consecutive rounds taken as blocks (a single
     * round's ratio is one run against one, as noisy as a run): each block's medians beside the whole run's.
     */
    public Blocks interleaved(Runnable... work) {
        for (int i = 0; i < warmup; i++) for (Runnable w : work) w.run();
        double[][] times = new double[work.length][256];
        int n = 0;
        long start = System.nanoTime();
        while (n < 256 && (n < minRuns || (System.nanoTime() - start) < minSeconds * 1e9 * work.length)) {
            for (int k = 0; k < work.length; k++) {
                long t0 = System.nanoTime();
                work[k].run();
                times[k][n] = (System.nanoTime() - t0) / 1e6;
            }
            n++;
        }
        int blocks = Math.min(INTERLEAVED_BLOCKS, n);
        double[] out = new double[work.length];
        double[][] perBlock = new double[work.length][blocks];
        for (int k = 0; k < work.length; k++) {
            for (int b = 0; b < blocks; b++) perBlock[k][b] = median(Arrays.copyOfRange(times[k], b * n / blocks, (b + 1) * n / blocks));
            out[k] = median(Arrays.copyOf(times[k], n));
        }
        return new Blocks(out, perBlock);
    }

    /**
     * What {@link #alternatedBlocks} and {@link #interleaved} measure: each piece's median over all its runs, and its median
     * in each block ({@code blockMedianMs[piece][block]}), from which the spread of a ratio within the run follows.
     */
    public record Blocks(double[] medianMs, double[][] blockMedianMs) {
        /**
         * The lowest and highest ratio of piece {@code over}'s time to piece {@code under}'s over the blocks, each block's
         * medians paired (the pieces of a block ran seconds apart, so a slow spell of the machine moves both): how far the
         * run's ratio of medians could be trusted. With {@code over} the peer and {@code under} ours, a speedup's range.
         */
        public double[] ratioRange(int over, int under) {
            double lo = Double.POSITIVE_INFINITY, hi = Double.NEGATIVE_INFINITY;
            for (int b = 0; b < blockMedianMs[over].length; b++) {
                double r = blockMedianMs[over][b] / blockMedianMs[under][b];
                lo = Math.min(lo, r);
                hi = Math.max(hi, r);
            }
            return new double[] {lo, hi};
        }
    }

    /**
     * Pieces of work measured in alternating blocks, for work that runs on thread pools of its
     * own (another runtime's) or compiles as it warms up (the JIT of a whole model's forward). Each piece first warms
     * up for {@code warmSeconds} of wall time (a forward that the JIT has not finished with is 10-30% slower for its
     * first second or two on two cores: the compiler threads share them); then {@code blocks} rounds, each running
     * every piece for {@code blockSeconds} (at least once), with a pause before each block so that the piece before's
     * pool stops spinning (ONNX Runtime's workers poll for about a million pause instructions after a run) and does
     * not take the cores from the next. A piece's median is over all its runs, beside its median in each block; a slow
     * spell of the machine falls on every piece alike.
     */
    public static Blocks alternatedBlocks(double warmSeconds, int blocks, double blockSeconds, Runnable... work) {
        if (blocks < 1) throw new IllegalArgumentException("at least one block, is " + blocks);
        for (Runnable w : work) runFor(w, warmSeconds, null);
        List<List<Double>> times = new ArrayList<>();
        for (int k = 0; k < work.length; k++) times.add(new ArrayList<>());
        double[][] perBlock = new double[work.length][blocks];
        for (int b = 0; b < blocks; b++)
            for (int k = 0; k < work.length; k++) {
                pause();
                List<Double> block = new ArrayList<>();
                runFor(work[k], blockSeconds, block);
                perBlock[k][b] = median(block.stream().mapToDouble(Double::doubleValue).toArray());
                times.get(k).addAll(block);
            }
        double[] out = new double[work.length];
        for (int k = 0; k < work.length; k++) out[k] = median(times.get(k).stream().mapToDouble(Double::doubleValue).toArray());
        return new Blocks(out, perBlock);
    }

    /**
     * Two libraries' calls, pieces 0 (theirs) and 1 (ours), timed in alternation so that a slow spell of the machine falls
     * on both: call by call on one thread ({@link #interleaved}); on more, in blocks with a pause before each (a peer's
     * workers spin after a call, and took the second core from ours when the calls alternated one by one: our 2-thread
     * GEMM ran at its 1-thread speed).
     */
    public static Blocks alternatedCalls(int threads, boolean quick, Runnable theirs, Runnable ours) {
        return threads == 1 ? standard(quick).interleaved(theirs, ours)
                : alternatedBlocks(quick ? 0.2 : 0.5, quick ? 2 : 4, quick ? 0.15 : 0.4, theirs, ours);
    }

    /**
     * Two frameworks' whole training steps, pieces 0 (theirs) and 1 (ours), in alternating blocks ({@link #alternatedBlocks}):
     * each warms up for 3 s (the JIT and the tape; PyTorch's allocator), then 5 blocks of at least a second of each.
     */
    public static Blocks alternatedSteps(boolean quick, Runnable theirs, Runnable ours) {
        return quick ? alternatedBlocks(0.3, 2, 0.2, theirs, ours) : alternatedBlocks(3, 5, 1.0, theirs, ours);
    }

    /** Runs {@code work} at least once and until {@code seconds} of wall time have passed, untimed. */
    public static void warmUp(Runnable work, double seconds) {
        runFor(work, seconds, null);
    }

    /** Runs {@code work} at least once and until {@code seconds} have passed; each run's ms into {@code times} when given. */
    private static void runFor(Runnable work, double seconds, List<Double> times) {
        long start = System.nanoTime();
        do {
            long t0 = System.nanoTime();
            work.run();
            if (times != null) times.add((System.nanoTime() - t0) / 1e6);
        } while (System.nanoTime() - start < seconds * 1e9);
    }

    private static void pause() {
        try {
            Thread.sleep(BLOCK_PAUSE_MS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while measuring", e);
        }
    }

    /** The middle value (the mean of the two middle ones for an even count); sorts {@code values}. */
    static double median(double[] values) {
        Arrays.sort(values);
        int n = values.length;
        return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
    }
}
