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

/** The native LoRA kernels against ReferenceBackend, at every SIMD level, with and without dropout and bias. */
class LoraParityTest {
    private static final ReferenceBackend REF = new ReferenceBackend();
    /** t, d_in, d_out, r */
    private static final long[][] SHAPES = {
        {1, 1, 1, 1}, {3, 17, 33, 1}, {17, 33, 3, 2}, {33, 1, 17, 4}, {1, 257, 33, 8}, {257, 33, 17, 16},
        {65, 100, 129, 16}, {50, 64, 64, 3}, {9, 300, 257, 33},
    };

    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        for (SimdLevel level : SimdLevel.values())
            for (long[] s : SHAPES)
                for (int variant = 0; variant < 4; variant++)
                    out.add(Arguments.of(level, s[0], s[1], s[2], s[3], (variant & 1) != 0, (variant & 2) != 0));
        return out.stream();
    }

    @AfterEach
    void restoreLevel() {
        CpuBackend.setSimdLevel(SimdLevel.AVX512);
    }

    @ParameterizedTest(name = "{0} t={1} d_in={2} d_out={3} r={4} dropout={5} bias={6}")
    @MethodSource("cases")
    void forwardBackwardMergeMatchReference(SimdLevel level, long t, long dIn, long dOut, long r, boolean dropout, boolean withBias) {
        TestTensors.useLevel(level);
        CpuBackend cpu = CpuBackend.get();
        SplittableRandom rng = new SplittableRandom(t * 7919 + dIn * 104729 + dOut * 13 + r + (dropout ? 1 : 0));
        double tol = 3e-6 * (dIn + dOut + r + 8);
        try (Arena arena = Arena.ofConfined()) {
            Tensor x = random(arena, rng, t, dIn), w = random(arena, rng, dOut, dIn);
            Tensor a = random(arena, rng, r, dIn), b = random(arena, rng, dOut, r);
            Tensor mask = dropout ? mask(arena, rng, t, dIn, 0.25) : null;
            Tensor bias = withBias ? Tensor.of(arena, random(arena, rng, 1, dOut).toFloatArray(), dOut) : null;
            float scale = 2f / r;

            Tensor hRef = Tensor.zeros(arena, DType.F32, t, r), yRef = Tensor.zeros(arena, DType.F32, t, dOut);
            Tensor h = Tensor.zeros(arena, DType.F32, t, r), y = Tensor.zeros(arena, DType.F32, t, dOut);
            REF.loraForward(x, mask, w, bias, a, b, scale, hRef, yRef);
            cpu.loraForward(x, mask, w, bias, a, b, scale, h, y);
            assertClose(hRef, h, tol, level + " h");
            assertClose(yRef, y, tol, level + " y");

            // backward accumulates: start every gradient from the same non-zero values
            Tensor g = random(arena, rng, t, dOut);
            Tensor dxRef = random(arena, rng, t, dIn), daRef = random(arena, rng, r, dIn), dbRef = random(arena, rng, dOut, r);
            Tensor dx = copy(arena, dxRef), da = copy(arena, daRef), db = copy(arena, dbRef);
            REF.loraBackward(x, mask, w, a, b, scale, hRef, g, dxRef, daRef, dbRef);
            cpu.loraBackward(x, mask, w, a, b, scale, hRef, g, dx, da, db);
            assertClose(dxRef, dx, tol, level + " dx");
            assertClose(daRef, da, tol * (t + 8) / 8, level + " da");
            assertClose(dbRef, db, tol * (t + 8) / 8, level + " db");

            // without dx (the first layer of a network needs no input gradient): the same dA and dB
            Tensor da2 = Tensor.zeros(arena, DType.F32, r, dIn), db2 = Tensor.zeros(arena, DType.F32, dOut, r);
            Tensor da2Ref = Tensor.zeros(arena, DType.F32, r, dIn), db2Ref = Tensor.zeros(arena, DType.F32, dOut, r);
            REF.loraBackward(x, mask, w, a, b, scale, hRef, g, null, da2Ref, db2Ref);
            cpu.loraBackward(x, mask, w, a, b, scale, hRef, g, null, da2, db2);
            assertClose(da2Ref, da2, tol * (t + 8) / 8, level + " da without dx");
            assertClose(db2Ref, db2, tol * (t + 8) / 8, level + " db without dx");

            Tensor wRef = copy(arena, w), wMerged = copy(arena, w);
            REF.loraMerge(wRef, a, b, scale, 1f);
            cpu.loraMerge(wMerged, a, b, scale, 1f);
            assertClose(wRef, wMerged, tol, level + " merge");
            cpu.loraMerge(wMerged, a, b, scale, -1f);
            assertClose(w, wMerged, tol, level + " merge then unmerge");
        }
    }
}
