package org.tune4j.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.BiFunction;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * A NaN or an infinity in the input reaches the same outputs on every SIMD level as on the reference:
 * an output element is NaN on all of them or on none (issue 22 found AVX-512 turning a NaN into a finite,
 * wrong number where the portable path kept it). Row 1 of each input holds a NaN, row 3 an infinity.
 */
class NonFiniteParityTest {
    private static final long M = 5, K = 19, N = 13;

    /** One op: its output for input x [M, K] on backend b (fresh tensors in arena). */
    private record Op(String name, BiFunction<Backend, Tensor, Tensor> run) {
        @Override
        public String toString() {
            return name;
        }
    }

    private static Arena arena = Arena.ofShared();

    @AfterAll
    static void free() {
        arena.close();
    }

    private static Tensor f32(long rows, long cols) {
        return Tensor.zeros(arena, DType.F32, rows, cols);
    }

    private static Tensor weights() {
        return TestTensors.random(arena, new SplittableRandom(3), N, K);
    }

    static List<Op> ops() {
        List<Op> ops = new ArrayList<>();
        ops.add(new Op("relu", (b, x) -> { Tensor y = f32(M, K); b.reluForward(x, y); return y; }));
        ops.add(new Op("gelu", (b, x) -> { Tensor y = f32(M, K); b.geluForward(x, y, false); return y; }));
        ops.add(new Op("softmax", (b, x) -> { Tensor y = f32(M, K); b.softmaxForward(x, y); return y; }));
        ops.add(new Op("logSoftmax", (b, x) -> { Tensor y = f32(M, K); b.logSoftmaxForward(x, y); return y; }));
        ops.add(new Op("layerNorm", (b, x) -> {
            Tensor y = f32(M, K), g = Tensor.zeros(arena, DType.F32, K), be = Tensor.zeros(arena, DType.F32, K);
            b.layerNormForward(x, g, be, 1e-5f, y, Tensor.zeros(arena, DType.F32, M), Tensor.zeros(arena, DType.F32, M));
            return y;
        }));
        ops.add(new Op("gemm", (b, x) -> { Tensor y = f32(M, N); b.gemm(false, true, 1f, x, weights(), 0f, y); return y; }));
        ops.add(new Op("quantizeRows", (b, x) -> {
            Tensor s = Tensor.zeros(arena, DType.F32, M);
            b.quantizeRows(x, Tensor.zeros(arena, DType.I8, M, K), s);
            return s;
        }));
        for (Activation act : Activation.values()) {
            ops.add(new Op("int8Linear " + act, (b, x) -> {
                Tensor y = f32(M, N);
                b.int8Linear(x, Int8Weights.quantize(arena, new ReferenceBackend(), weights()), null, act, y);
                return y;
            }));
        }
        ops.add(new Op("int8WeightOnly", (b, x) -> {
            Tensor y = f32(M, N);
            b.int8WeightOnlyLinear(x, Int8Weights.quantize(arena, new ReferenceBackend(), weights()), null, Activation.RELU, y);
            return y;
        }));
        ops.add(new Op("csrLinear", (b, x) -> { Tensor y = f32(M, N); b.csrLinear(x, CsrWeights.fromDense(arena, weights()), null, Activation.RELU, y); return y; }));
        return ops;
    }

    /**
     * GELU's backward far left of the curve, where the slope is negative but below any float's range, with an
     * infinite dy: -inf for every finite x on both backends, NaN at x = -inf (the slope's limit is 0). The reference's
     * slope used to underflow to 0 left of -38 (NaN where the kernels gave -inf), and the kernels' exp gave e^-87 for
     * e^-inf (-inf where the reference gave NaN); a 20,000-call boundary fuzz found it.
     */
    @ParameterizedTest(name = "{0}")
    @EnumSource(SimdLevel.class)
    void geluBackwardOfAVanishedSlopeTimesInfinity(SimdLevel level) {
        float[] xs = {Float.NEGATIVE_INFINITY, -1000f, -100f, -90f, -87.5f, -20f, -1f, 0f, 1f, 20f, 100f, 1000f};
        Tensor x = Tensor.of(arena, xs, 1, xs.length), dy = f32(1, xs.length);
        for (int i = 0; i < xs.length; i++) dy.setFloat(i, Float.POSITIVE_INFINITY);
        SimdLevel before = CpuBackend.simdLevel();
        TestTensors.useLevel(level);
        try {
            for (boolean exact : new boolean[] {true, false}) {
                Tensor want = f32(1, xs.length), got = f32(1, xs.length);
                new ReferenceBackend().geluBackward(x, dy, want, exact);
                CpuBackend.get().geluBackward(x, dy, got, exact);
                for (int i = 0; i < xs.length; i++) {
                    assertEquals(want.getFloat(i), got.getFloat(i), 0f, (exact ? "erf" : "tanh") + " form at " + level + ", x " + xs[i]);
                }
            }
        } finally {
            CpuBackend.setSimdLevel(before);
        }
    }

    static Stream<Arguments> cases() {
        return ops().stream().flatMap(op -> Stream.of(SimdLevel.values()).map(level -> Arguments.of(op, level)));
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("cases")
    void nanAndInfinityReachTheSameOutputsAsOnTheReference(Op op, SimdLevel level) {
        Tensor x = TestTensors.random(arena, new SplittableRandom(11), M, K);
        x.setFloat(1, 4, Float.NaN);
        x.setFloat(3, 17, Float.POSITIVE_INFINITY);
        float[] want = op.run().apply(new ReferenceBackend(), x).toFloatArray();
        SimdLevel before = CpuBackend.simdLevel();
        TestTensors.useLevel(level);
        try {
            float[] got = op.run().apply(CpuBackend.get(), x).toFloatArray();
            int nans = 0;
            for (int i = 0; i < want.length; i++) {
                assertEquals(Float.isNaN(want[i]), Float.isNaN(got[i]), op + " at " + level + ", element " + i + ": reference " + want[i] + ", got " + got[i]);
                if (Float.isNaN(want[i])) nans++;
            }
            assertTrue(nans > 0, op + ": the NaN reached no output, so this case checks nothing");
        } finally {
            CpuBackend.setSimdLevel(before);
        }
    }
}
