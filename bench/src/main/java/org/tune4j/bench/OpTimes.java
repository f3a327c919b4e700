package org.tune4j.bench;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.function.Consumer;
import org.tune4j.backend.Backend;
import org.tune4j.tensor.Tensor;

/**
 * A Backend wrapped in a timing proxy: the time a training step spends inside Backend calls (the rest is Java, the tape's
 * bookkeeping and batch assembly) and, when asked, each op's time with the shapes of its tensors (where a second thread is
 * lost). Time inside a call includes its argument checks and the downcall; the proxy's own overhead counts as outside.
 */
final class OpTimes {
    private final Backend backend;
    private final boolean perOp;
    private final Map<String, long[]> ops = new HashMap<>(); // op with its shapes -> {nanoseconds, calls}
    private long insideNanos;

    /** Times the calls to {@code inner}; {@code perOp}: each op apart too. */
    OpTimes(Backend inner, boolean perOp) {
        this.perOp = perOp;
        this.backend = (Backend) Proxy.newProxyInstance(Backend.class.getClassLoader(), new Class<?>[] {Backend.class}, (proxy, m, args) -> {
            long t0 = System.nanoTime();
            try {
                return m.invoke(inner, args);
            } catch (InvocationTargetException e) {
                throw e.getCause();
            } finally {
                long dt = System.nanoTime() - t0;
                insideNanos += dt;
                if (perOp) {
                    long[] op = ops.computeIfAbsent(key(m.getName(), args), k -> new long[2]);
                    op[0] += dt;
                    op[1]++;
                }
            }
        });
    }

    /** The Backend whose calls are timed. */
    Backend backend() {
        return backend;
    }

    /** Forgets what was timed (after a warm-up). */
    void reset() {
        insideNanos = 0;
        ops.clear();
    }

    /** Milliseconds inside Backend calls a step, over {@code steps} steps timed since the last reset. */
    double insideMs(int steps) {
        return insideNanos / 1e6 / steps;
    }

    /** Each op's milliseconds a step over {@code steps} steps, by its name in the per-op table (empty unless per op). */
    Map<String, Double> msPerStep(int steps) {
        Map<String, Double> ms = new HashMap<>();
        ops.forEach((op, t) -> ms.put(op, t[0] / 1e6 / steps));
        return ms;
    }

    /** Each op's milliseconds and calls a step, the slowest first, one line each to {@code out} prefixed by {@code label} (nothing unless per op). */
    void report(String label, int steps, Consumer<String> out) {
        ops.entrySet().stream().sorted((a, b) -> Long.compare(b.getValue()[0], a.getValue()[0]))
                .forEach(e -> out.accept(String.format("  %s: %-60s %8.3f ms a step, %5d calls", label, e.getKey(), e.getValue()[0] / 1e6 / steps,
                        e.getValue()[1] / steps)));
    }

    /** A call's name in the per-op table: the op and its tensors' shapes (a step has a dozen GEMMs of several shapes). */
    private static String key(String method, Object[] args) {
        StringBuilder sb = new StringBuilder(method);
        if (args != null)
            for (Object a : args)
                if (a instanceof Tensor t) sb.append(' ').append(Arrays.toString(t.shape()).replace(" ", ""));
                else if (a instanceof Boolean b) sb.append(b ? " T" : " N");
        return sb.toString();
    }
}
