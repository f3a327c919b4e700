package org.tune4j.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.function.Function;
import org.tune4j.backend.Backend;
import org.tune4j.backend.CpuBackend;

/**
 * What a second thread gives each op of a training step: steps on one thread and on {@code threads} alternated in one
 * process, each through a timing proxy ({@link OpTimes}), so that the machine's slow and fast spells fall on both (two
 * processes, or the two halves of one bench run, differ by 10-30% on a shared VM); prints each op's time on both and the
 * ratio, the slowest first.
 */
final class StepThreadScaling {
    private StepThreadScaling() {}

    /**
     * @param stepOn one step on the given backend (forward, backward and the optimizer's update)
     * @param steps steps timed on each thread count, after two untimed ones each
     */
    static void report(String label, Function<Backend, Runnable> stepOn, int threads, int steps, Consumer<String> out) {
        int before = CpuBackend.threads();
        OpTimes one = new OpTimes(CpuBackend.get(), true), many = new OpTimes(CpuBackend.get(), true);
        Runnable onOne = stepOn.apply(one.backend()), onMany = stepOn.apply(many.backend());
        long oneNanos = 0, manyNanos = 0;
        try {
            for (int s = -2; s < steps; s++) {
                if (s == 0) {
                    one.reset();
                    many.reset();
                }
                CpuBackend.setThreads(1);
                long t0 = System.nanoTime();
                onOne.run();
                long t1 = System.nanoTime();
                CpuBackend.setThreads(threads);
                onMany.run();
                long t2 = System.nanoTime();
                if (s >= 0) {
                    oneNanos += t1 - t0;
                    manyNanos += t2 - t1;
                }
            }
        } finally {
            CpuBackend.setThreads(before);
        }
        out.accept(String.format("%s, 1 and %d threads alternated: %.1f and %.1f ms a step (%.2fx), %.1f and %.1f inside Backend calls", label, threads,
                oneNanos / 1e6 / steps, manyNanos / 1e6 / steps, (double) oneNanos / manyNanos, one.insideMs(steps), many.insideMs(steps)));
        Map<String, Double> a = one.msPerStep(steps), b = many.msPerStep(steps);
        List<String> ops = new ArrayList<>(a.keySet());
        ops.sort((x, y) -> Double.compare(a.get(y), a.get(x)));
        for (String op : ops) {
            double ms1 = a.get(op), msN = b.getOrDefault(op, Double.NaN);
            out.accept(String.format("  %s: %-60s %8.3f ms on 1, %8.3f on %d: %5.2fx", label, op, ms1, msN, threads, ms1 / msN));
        }
    }
}
