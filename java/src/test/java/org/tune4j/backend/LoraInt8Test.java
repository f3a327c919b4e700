package org.tune4j.backend;

import static org.tune4j.backend.TestTensors.assertClose;
import static org.tune4j.backend.TestTensors.copy;
import static org.tune4j.backend.TestTensors.mask;
import static org.tune4j.backend.TestTensors.random;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/** LoRA over a frozen int8 base, native against ReferenceBackend at every SIMD level. */
class LoraInt8Test {
    private static final ReferenceBackend REF = new ReferenceBackend();
    /** t, d_in, d_out, r; d_out above 256 crosses the backward's dequantization blocks */
    private static final long[][] SHAPES = {{1, 1, 1, 1}, {3, 17, 33, 2}, {17, 33, 3, 4}, {33, 64, 300, 16}, {9, 130, 65, 3}};

    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        for (SimdLevel level : SimdLevel.values())
            for (long[] s : SHAPES)
                for (boolean dropout : new boolean[] {false, true}) out.add(Arguments.of(level, s[0], s[1], s[2], s[3], dropout));
        return out.stream();
    }

    @AfterEach
    void restoreLevel() {
        CpuBackend.setSimdLevel(SimdLevel.AVX512);
    }

    @ParameterizedTest(name = "{0} t={1} d_in={2} d_out={3} r={4} dropout={5}")
    @MethodSource("cases")
    void forwardAndBackwardMatchReference(SimdLevel level, long t, long dIn, long dOut, long r, boolean dropout) {
        TestTensors.useLevel(level);
        CpuBackend cpu = CpuBackend.get();
        SplittableRandom rng = new SplittableRandom(t + 7 * dIn + 31 * dOut + r);
        double tol = 3e-6 * (dIn + dOut + r + 8);
        try (Arena arena = Arena.ofConfined()) {
            Int8Weights w = Int8Weights.quantize(arena, cpu, random(arena, rng, dOut, dIn));
            Tensor x = random(arena, rng, t, dIn), a = random(arena, rng, r, dIn), b = random(arena, rng, dOut, r);
            Tensor m = dropout ? mask(arena, rng, t, dIn, 0.2) : null;
            Tensor bias = Tensor.of(arena, random(arena, rng, 1, dOut).toFloatArray(), dOut);
            Tensor hRef = Tensor.zeros(arena, DType.F32, t, r), yRef = Tensor.zeros(arena, DType.F32, t, dOut);
            Tensor h = Tensor.zeros(arena, DType.F32, t, r), y = Tensor.zeros(arena, DType.F32, t, dOut);
            REF.loraInt8Forward(x, m, w, bias, a, b, 0.5f, hRef, yRef);
            cpu.loraInt8Forward(x, m, w, bias, a, b, 0.5f, h, y);
            assertClose(hRef, h, tol, level + " h");
            assertClose(yRef, y, tol, level + " y");

            Tensor g = random(arena, rng, t, dOut);
            Tensor dxRef = random(arena, rng, t, dIn), daRef = random(arena, rng, r, dIn), dbRef = random(arena, rng, dOut, r);
            Tensor dx = copy(arena, dxRef), da = copy(arena, daRef), db = copy(arena, dbRef);
            REF.loraInt8Backward(x, m, w, a, b, 0.5f, hRef, g, dxRef, daRef, dbRef);
            cpu.loraInt8Backward(x, m, w, a, b, 0.5f, hRef, g, dx, da, db);
            assertClose(dxRef, dx, tol, level + " dx");
            assertClose(daRef, da, tol * (t + 8) / 8, level + " da");
            assertClose(dbRef, db, tol * (t + 8) / 8, level + " db");
        }
    }
}
