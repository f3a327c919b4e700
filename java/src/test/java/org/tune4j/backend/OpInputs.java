package org.tune4j.backend;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Memory;
import org.tune4j.tensor.Tensor;

/**
 * An op case's inputs (OpTable), drawn from one seed and placed in the memory of the backend under test: the
 * reference and every backend see the same values, so a case is written once and its two runs compared.
 * Index tensors some ops read on the host (the CUDA backend stages them) come from {@link #hostInts}.
 */
final class OpInputs {
    private final Arena arena;
    private final Memory memory;
    private final SplittableRandom rng;

    OpInputs(Arena arena, Memory memory, long seed) {
        this.arena = arena;
        this.memory = memory;
        this.rng = new SplittableRandom(seed);
    }

    /** Uniform values in [-1, 1). */
    Tensor random(long... shape) {
        Tensor t = Tensor.zeros(arena, DType.F32, shape);
        for (long i = 0; i < t.numel(); i++) t.setFloat(i, (float) (rng.nextDouble() * 2 - 1));
        return place(t);
    }

    /** Uniform values in [0, 1): images, second moments. */
    Tensor unit(long... shape) {
        Tensor t = Tensor.zeros(arena, DType.F32, shape);
        for (long i = 0; i < t.numel(); i++) t.setFloat(i, (float) rng.nextDouble());
        return place(t);
    }

    /** A rows x cols view, random, inside a larger random matrix (a row stride beyond cols, an offset). */
    Tensor strided(long rows, long cols) {
        return random(rows + 2, cols + 5).view(1, 3, rows, cols);
    }

    Tensor zeros(long... shape) {
        return zeros(DType.F32, shape);
    }

    Tensor zeros(DType dtype, long... shape) {
        return memory.zeros(arena, dtype, shape);
    }

    /** Every element v (NaN: an output that must be written, never read). */
    Tensor filled(float v, long... shape) {
        Tensor t = Tensor.zeros(arena, DType.F32, shape);
        for (long i = 0; i < t.numel(); i++) t.setFloat(i, v);
        return place(t);
    }

    /** The values given, in this memory. */
    Tensor of(float... values) {
        return place(Tensor.of(arena, values, values.length));
    }

    /** n indices drawn from [0, bound), in this memory. */
    Tensor indices(int bound, long n) {
        return place(hostIndices(bound, n));
    }

    /** n indices drawn from [0, bound), on the host. */
    Tensor hostIndices(int bound, long n) {
        return hostInts(rng.ints(n, 0, bound).toArray());
    }

    /** These indices, on the host. */
    Tensor hostInts(int... values) {
        Tensor t = Tensor.zeros(arena, DType.I32, values.length);
        for (int i = 0; i < values.length; i++) t.setInt(i, values[i]);
        return t;
    }

    /** These indices, in this memory. */
    Tensor ints(int... values) {
        return place(hostInts(values));
    }

    /** A dropout mask: 0 with probability p, else 1/(1-p). */
    Tensor mask(double p, long rows, long cols) {
        Tensor t = Tensor.zeros(arena, DType.F32, rows, cols);
        for (long i = 0; i < t.numel(); i++) t.setFloat(i, rng.nextDouble() < p ? 0f : (float) (1 / (1 - p)));
        return place(t);
    }

    /** Random int8 values in [-127, 127], every seventh -128 where allowed (activations may be -128, weights may not). */
    Tensor int8(boolean minus128, long rows, long cols) {
        Tensor t = Tensor.zeros(arena, DType.I8, rows, cols);
        for (long i = 0; i < t.numel(); i++) t.setByte(i, minus128 && i % 7 == 0 ? Byte.MIN_VALUE : (byte) (rng.nextInt(255) - 127));
        return place(t);
    }

    /** Random int8 weights [n, k] with random scales, on the host (where the weight structures live). */
    Int8Weights int8Weights(long n, long k) {
        Tensor q = Tensor.zeros(arena, DType.I8, n, k), scales = Tensor.zeros(arena, DType.F32, n);
        for (long i = 0; i < q.numel(); i++) q.setByte(i, (byte) (rng.nextInt(255) - 127));
        for (long j = 0; j < n; j++) scales.setFloat(j, (float) rng.nextDouble() * 0.02f);
        return Int8Weights.of(arena, q, scales);
    }

    /** Random int8 weights 2:4 along k (in each group of 4, two random positions may be nonzero; sometimes fewer are). */
    Int8Weights int8TwoFour(long n, long k) {
        Tensor q = Tensor.zeros(arena, DType.I8, n, k), scales = Tensor.zeros(arena, DType.F32, n);
        for (long j = 0; j < n; j++)
            for (long g = 0; g < k / 4; g++) {
                int first = rng.nextInt(4), second = (first + 1 + rng.nextInt(3)) % 4;
                for (int kept : new int[] {first, second}) q.setByte(j * k + 4 * g + kept, rng.nextInt(5) == 0 ? 0 : (byte) (rng.nextInt(255) - 127));
            }
        for (long j = 0; j < n; j++) scales.setFloat(j, (float) rng.nextDouble() * 0.02f);
        return Int8Weights.ofTwoFour(arena, q, scales);
    }

    /** A host copy of t (weight structures are built on the host). */
    Tensor host(Tensor t) {
        return t.isHost() ? t : t.copy(arena, Memory.HOST);
    }

    Arena arena() {
        return arena;
    }

    /** The next draw of the seeded stream (shapes or choices a case makes at random). */
    int nextInt(int bound) {
        return rng.nextInt(bound);
    }

    /** A host tensor's copy in this memory (the tensor itself where this memory is the host's). */
    Tensor place(Tensor host) {
        return memory.isHost() ? host : host.copy(arena, memory);
    }
}
