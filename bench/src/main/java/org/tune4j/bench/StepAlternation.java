package org.tune4j.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.function.Function;
import org.tune4j.backend.Backend;
import org.tune4j.backend.CpuBackend;

/**
 * Two variants of a training step alternated in one process, each through a timing proxy ({@link OpTimes}), so that the
 * machine's slow and fast spells fall on both (two processes, or the two halves of one bench run, differ by 10-30% on a
 * shared VM); prints each op's time in both and the ratio, the slowest first. What a second thread gives each op
 * ({@link #threadScaling}), or what a change of the step's setup gives (bench bert's packings).
 */
final class StepAlternation {
    private StepAlternation() {}

    /**
     * A step variant: {@code stepOn} makes one step (forward, backward and the optimizer's update) on the given backend;
     * {@code before} runs before each of its steps (a thread count), outside the timing.
     */
    record Variant(String name, Function<Backend, Runnable> stepOn, Runnable before) {}

    /** Steps on one thread and on {@code threads} alternated (the caller's thread count restored after). */
    static void threadScaling(String label, Function<Backend, Runnable> stepOn, int threads, int steps, Consumer<String> out) {
        int before = CpuBackend.threads();
        try {
            report(label, new Variant("1 thread", stepOn, () -> CpuBackend.setThreads(1)), new Variant(threads + " threads", stepOn, () -> CpuBackend.setThreads(threads)),
                    steps, out);
        } finally {
            CpuBackend.setThreads(before);
        }
    }

    /** @param steps steps timed of each variant, after two untimed ones each */
    static void report(String label, Variant a, Variant b, int steps, Consumer<String> out) {
        OpTimes timesA = new OpTimes(CpuBackend.get(), true), timesB = new OpTimes(CpuBackend.get(), true);
        Runnable onA = a.stepOn().apply(timesA.backend()), onB = b.stepOn().apply(timesB.backend());
        long nanosA = 0, nanosB = 0;
        for (int s = -2; s < steps; s++) {
            if (s == 0) {
                timesA.reset();
                timesB.reset();
            }
            a.before().run();
            long t0 = System.nanoTime();
            onA.run();
            long t1 = System.nanoTime();
            b.before().run();
            long t2 = System.nanoTime();
            onB.run();
            long t3 = System.nanoTime();
            if (s >= 0) {
                nanosA += t1 - t0;
                nanosB += t3 - t2;
            }
        }
        out.accept(String.format("%s, %s and %s alternated: %.1f and %.1f ms a step (%.2fx), %.1f and %.1f inside Backend calls", label, a.name(), b.name(),
                nanosA / 1e6 / steps, nanosB / 1e6 / steps, (double) nanosA / nanosB, timesA.insideMs(steps), timesB.insideMs(steps)));
        Map<String, Double> msA = timesA.msPerStep(steps), msB = timesB.msPerStep(steps);
        List<String> ops = new ArrayList<>(msA.keySet());
        for (String op : msB.keySet()) if (!msA.containsKey(op)) ops.add(op);
        ops.sort((x, y) -> Double.compare(Math.max(msA.getOrDefault(y, 0.0), msB.getOrDefault(y, 0.0)), Math.max(msA.getOrDefault(x, 0.0), msB.getOrDefault(x, 0.0))));
        for (String op : ops) {
            double ms1 = msA.getOrDefault(op, 0.0), ms2 = msB.getOrDefault(op, 0.0);
            out.accept(String.format("  %s: %-60s %8.3f ms (%s), %8.3f (%s): %5.2fx", label, op, ms1, a.name(), ms2, b.name(), ms1 / ms2));
        }
    }
}
