package org.tune4j.backend;

import static org.junit.jupiter.api.Assertions.fail;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.params.provider.Arguments;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/** Seeded random tensors and comparisons for the backend tests (and the nn and CUDA ones). */
public final class TestTensors {
    private TestTensors() {}

    /**
     * Runs the native kernels at {@code level}; a level this CPU lacks is reported as a skipped test saying
     * so (not dropped from the cases in silence).
     */
    public static void useLevel(SimdLevel level) {
        Assumptions.assumeTrue(SimdLevel.supported().contains(level), "this CPU lacks " + level.label() + ": not run");
        CpuBackend.setSimdLevel(level);
    }

    /** Parameterized-test cases: every SIMD level with every shape, as (level, shape[0], shape[1], ...). */
    static Stream<Arguments> atEveryLevel(long[][] shapes) {
        Stream.Builder<Arguments> out = Stream.builder();
        for (SimdLevel level : SimdLevel.values())
            for (long[] shape : shapes) {
                Object[] args = new Object[shape.length + 1];
                args[0] = level;
                for (int i = 0; i < shape.length; i++) args[i + 1] = shape[i];
                out.add(Arguments.of(args));
            }
        return out.build();
    }

    /** Uniform values in [-1, 1), of any shape (a matrix: rows, cols; a bias: its length). */
    public static Tensor random(Arena arena, SplittableRandom rng, long... shape) {
        Tensor t = Tensor.zeros(arena, DType.F32, shape);
        for (long i = 0; i < t.numel(); i++) t.setFloat(i, (float) (rng.nextDouble() * 2 - 1));
        return t;
    }

    /** A rows x cols view inside a larger matrix (leading dimension > cols), filled with random values. */
    static Tensor randomStrided(Arena arena, SplittableRandom rng, long rows, long cols, long pad) {
        Tensor big = random(arena, rng, rows + 1, cols + pad);
        return big.view(1, pad / 2, rows, cols);
    }

    /** A dropout mask: 0 with probability p, else 1/(1-p). */
    static Tensor mask(Arena arena, SplittableRandom rng, long rows, long cols, double p) {
        Tensor t = Tensor.zeros(arena, DType.F32, rows, cols);
        for (long i = 0; i < rows * cols; i++) t.setFloat(i, rng.nextDouble() < p ? 0f : (float) (1 / (1 - p)));
        return t;
    }

    static Tensor copy(Arena arena, Tensor t) {
        Tensor c = Tensor.zeros(arena, t.dtype(), t.shape());
        c.copyFrom(t);
        return c;
    }

    /** Fails unless |expected - actual| <= tol * (1 + |expected|) everywhere. */
    public static void assertClose(Tensor expected, Tensor actual, double tol, String what) {
        float[] e = expected.toFloatArray(), a = actual.toFloatArray();
        if (e.length != a.length) fail(what + ": lengths " + e.length + " vs " + a.length);
        for (int i = 0; i < e.length; i++) {
            double err = Math.abs((double) e[i] - a[i]);
            if (!(err <= tol * (1 + Math.abs(e[i])))) {
                fail(what + ": element " + i + " expected " + e[i] + " got " + a[i] + " (tolerance " + tol + ")");
            }
        }
    }

    /** Fails unless the two tensors hold the same bits. */
    public static void assertBitwiseEqual(Tensor expected, Tensor actual, String what) {
        float[] e = expected.toFloatArray(), a = actual.toFloatArray();
        for (int i = 0; i < e.length; i++) {
            if (Float.floatToRawIntBits(e[i]) != Float.floatToRawIntBits(a[i])) {
                fail(what + ": element " + i + " differs: " + e[i] + " vs " + a[i]);
            }
        }
    }
}
