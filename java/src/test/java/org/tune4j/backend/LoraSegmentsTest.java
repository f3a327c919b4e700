package org.tune4j.backend;

import static org.tune4j.backend.TestTensors.assertBitwiseEqual;
import static org.tune4j.backend.TestTensors.random;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * The CPU's LoRA layer carries its low-rank term in the base GEMM's K axis (ARCHITECTURE.md, "GEMM"): y is the product
 * [x | s h] [W | B]ᵀ and dx the product [g | s gB] [W ; A], each summed in the order of the GEMM over the explicit
 * concatenation, whether the kernel reads x in place and packs only the rank's columns, or packs all of A (rows a
 * multiple of 4 KiB apart). So both match that GEMM bit for bit, at every level, on one thread and on two.
 */
class LoraSegmentsTest {
    private static final float SCALE = 2f;

    @AfterEach
    void restore() {
        CpuBackend.setSimdLevel(SimdLevel.AVX512);
        CpuBackend.setThreads(Runtime.getRuntime().availableProcessors());
    }

    /**
     * t, d_in, d_out, r: MiniLM's projection with a last row tile part empty, x 4 KiB a row (A packed), a rank longer
     * than a K block (blocks that lie wholly in the low-rank segment), a small odd one.
     */
    private static final long[][] SHAPES = {{130, 384, 384, 8}, {64, 1024, 96, 16}, {40, 100, 70, 600}, {17, 33, 20, 3}};

    static Stream<Arguments> cases() {
        return TestTensors.atEveryLevel(SHAPES);
    }

    /** [left | scale * right] (rows x (left's columns + right's)), the scaled part rounded as the GEMM's packing rounds it. */
    private static Tensor concatColumns(Arena arena, Tensor left, Tensor right, float scale) {
        long rows = left.dim(0), l = left.dim(1), r = right.dim(1);
        Tensor out = Tensor.zeros(arena, DType.F32, rows, l + r);
        for (long i = 0; i < rows; i++) {
            for (long j = 0; j < l; j++) out.setFloat(i, j, left.getFloat(i, j));
            for (long j = 0; j < r; j++) out.setFloat(i, l + j, scale * right.getFloat(i, j));
        }
        return out;
    }

    /** [top ; bottom] (top's rows + bottom's, columns). */
    private static Tensor concatRows(Arena arena, Tensor top, Tensor bottom) {
        long t = top.dim(0), b = bottom.dim(0), cols = top.dim(1);
        Tensor out = Tensor.zeros(arena, DType.F32, t + b, cols);
        for (long j = 0; j < cols; j++) {
            for (long i = 0; i < t; i++) out.setFloat(i, j, top.getFloat(i, j));
            for (long i = 0; i < b; i++) out.setFloat(t + i, j, bottom.getFloat(i, j));
        }
        return out;
    }

    @ParameterizedTest(name = "{0} t={1} d_in={2} d_out={3} r={4}")
    @MethodSource("cases")
    void forwardAndInputGradientAreTheGemmsOverTheConcatenation(SimdLevel level, long t, long dIn, long dOut, long r) {
        TestTensors.useLevel(level);
        CpuBackend cpu = CpuBackend.get();
        SplittableRandom rng = new SplittableRandom(t * 31 + dIn * 7 + r);
        try (Arena arena = Arena.ofConfined()) {
            Tensor x = random(arena, rng, t, dIn), w = random(arena, rng, dOut, dIn), a = random(arena, rng, r, dIn), b = random(arena, rng, dOut, r);
            Tensor g = random(arena, rng, t, dOut);
            for (int threads : new int[] {1, 2}) {
                CpuBackend.setThreads(threads);
                String what = level + ", " + threads + " thread(s)";
                Tensor h = Tensor.zeros(arena, DType.F32, t, r), y = Tensor.zeros(arena, DType.F32, t, dOut);
                Tensor dx = Tensor.zeros(arena, DType.F32, t, dIn), da = Tensor.zeros(arena, DType.F32, r, dIn), db = Tensor.zeros(arena, DType.F32, dOut, r);
                cpu.loraForward(x, null, w, null, a, b, SCALE, h, y);
                cpu.loraBackward(x, null, w, a, b, SCALE, h, g, dx, da, db);

                Tensor yConcat = Tensor.zeros(arena, DType.F32, t, dOut);
                cpu.gemm(false, true, 1f, concatColumns(arena, x, h, SCALE), concatColumns(arena, w, b, 1f), 0f, yConcat);
                assertBitwiseEqual(yConcat, y, "y = [x | s h] [W | B]ᵀ, " + what);

                Tensor gb = Tensor.zeros(arena, DType.F32, t, r), dxConcat = Tensor.zeros(arena, DType.F32, t, dIn);
                cpu.gemm(false, false, 1f, g, b, 0f, gb);
                cpu.gemm(false, false, 1f, concatColumns(arena, g, gb, SCALE), concatRows(arena, w, a), 1f, dxConcat);
                assertBitwiseEqual(dxConcat, dx, "dx = [g | s gB] [W ; A], " + what);
            }
        }
    }
}
