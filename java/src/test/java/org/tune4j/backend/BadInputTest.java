package org.tune4j.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/** Wrong shapes, too-small and freed buffers give clear exceptions on every backend, never a crash. */
class BadInputTest {
    private static final List<Backend> BACKENDS = List.of(new ReferenceBackend(), CpuBackend.get());

    private static void assertRejected(Executable call, String mustMention) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        assertTrue(e.getMessage().contains(mustMention), "message '" + e.getMessage() + "' should mention " + mustMention);
    }

    private static Tensor f32(Arena arena, long rows, long cols) {
        return Tensor.zeros(arena, DType.F32, rows, cols);
    }

    @Test
    void poolSettingsOutOfRangeAreRejected() {
        assertRejected(() -> CpuBackend.setThreads(0), "threads must be in [1, 256]");
        assertRejected(() -> CpuBackend.setSpinMicros(-1), "spin microseconds must be in [0, 100000]");
        assertRejected(() -> CpuBackend.setSpinMicros(100_001), "spin microseconds");
        int before = CpuBackend.spinMicros();
        CpuBackend.setSpinMicros(0);
        assertEquals(0, CpuBackend.spinMicros());
        CpuBackend.setSpinMicros(before);
        assertEquals(before, CpuBackend.spinMicros());
    }

    @Test
    void gemmShapesAreChecked() {
        try (Arena arena = Arena.ofConfined()) {
            for (Backend be : BACKENDS) {
                Tensor a = f32(arena, 4, 5), b = f32(arena, 6, 7), c = f32(arena, 4, 7);
                assertRejected(() -> be.gemm(false, false, 1f, a, b, 0f, c), "inner dimensions");
                Tensor b2 = f32(arena, 5, 7), cWrong = f32(arena, 4, 8);
                assertRejected(() -> be.gemm(false, false, 1f, a, b2, 0f, cWrong), "c must be 4x7");
                assertRejected(() -> be.gemm(true, false, 1f, a, b2, 0f, c), "inner dimensions");
                assertRejected(() -> be.gemm(false, false, 1f, null, b2, 0f, c), "a is null");
                assertRejected(() -> be.gemm(false, false, Float.NaN, a, b2, 0f, c), "alpha");
                Tensor ints = Tensor.zeros(arena, DType.I32, 4, 5);
                assertRejected(() -> be.gemm(false, false, 1f, ints, b2, 0f, c), "a must be F32");
                Tensor vec = Tensor.zeros(arena, DType.F32, 20);
                assertRejected(() -> be.gemm(false, false, 1f, vec, b2, 0f, c), "a must be a matrix");
            }
        }
    }

    @Test
    void linearShapesAndBiasAreChecked() {
        try (Arena arena = Arena.ofConfined()) {
            for (Backend be : BACKENDS) {
                Tensor x = f32(arena, 4, 5), w = f32(arena, 7, 5), y = f32(arena, 4, 7);
                assertRejected(() -> be.linear(x, f32(arena, 7, 6), null, y), "inner dimensions");
                assertRejected(() -> be.linear(x, w, null, f32(arena, 4, 8)), "c must be 4x7");
                assertRejected(() -> be.linear(x, null, null, y), "w is null");
                assertRejected(() -> be.linear(x, w, f32(arena, 1, 6), y), "bias must hold 7 values");
                assertRejected(() -> be.linear(x, w, Tensor.zeros(arena, DType.I32, 7), y), "bias must be F32");
                PackedLinearWeights packed = PackedLinearWeights.pack(arena, w), other = PackedLinearWeights.pack(arena, f32(arena, 7, 6));
                assertRejected(() -> be.linearPacked(x, other, null, y), "inner dimensions");
                assertRejected(() -> be.linearPacked(x, packed, null, f32(arena, 4, 8)), "c must be 4x7");
                assertRejected(() -> be.linearPacked(x, null, null, y), "w is null");
                assertRejected(() -> be.linearPacked(x, packed, f32(arena, 1, 6), y), "bias must hold 7 values");
            }
            assertRejected(() -> PackedLinearWeights.pack(arena, Tensor.zeros(arena, DType.I32, 7, 5)), "must be F32");
            assertRejected(() -> PackedLinearWeights.pack(arena, Tensor.zeros(arena, DType.F32, 35)), "w must be a matrix");
        }
    }

    @Test
    void freedMemoryIsRejected() {
        Arena arena = Arena.ofConfined();
        Tensor a = f32(arena, 4, 5), b = f32(arena, 5, 7), c = f32(arena, 4, 7);
        arena.close();
        for (Backend be : BACKENDS) assertRejected(() -> be.gemm(false, false, 1f, a, b, 0f, c), "freed");
    }

    @Test
    void tooSmallBuffersCannotBecomeTensors() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment small = arena.allocate(4 * 10);
            assertRejected(() -> Tensor.wrap(small, DType.F32, 3, 4, 4), "too small");
            assertRejected(() -> Tensor.wrap(small, DType.F32, 2, 4, 7), "too small");
            assertRejected(() -> Tensor.wrap(small, DType.F32, 2, 4, 3), "ld 3 is less than cols 4");
            assertRejected(() -> Tensor.wrap(small, DType.F32, 11), "too small");
            Tensor ok = Tensor.wrap(small, DType.F32, 2, 4, 6);
            assertRejected(() -> ok.view(1, 0, 2, 4), "outside");
        }
    }

    @Test
    void heapMemoryNeverReachesNativeCode() {
        // a heap segment cannot be passed to a (non-critical) downcall: the linker refuses it with an exception
        MemorySegment heap = MemorySegment.ofArray(new float[20]);
        Tensor a = Tensor.wrap(heap, DType.F32, 4, 5, 5);
        try (Arena arena = Arena.ofConfined()) {
            Tensor b = f32(arena, 5, 7), c = f32(arena, 4, 7);
            assertThrows(IllegalArgumentException.class, () -> CpuBackend.get().gemm(false, false, 1f, a, b, 0f, c));
        }
    }

    @Test
    void loraShapesAreChecked() {
        try (Arena arena = Arena.ofConfined()) {
            long t = 3, dIn = 5, dOut = 4, r = 2;
            Tensor x = f32(arena, t, dIn), w = f32(arena, dOut, dIn), a = f32(arena, r, dIn), b = f32(arena, dOut, r);
            Tensor h = f32(arena, t, r), y = f32(arena, t, dOut), g = f32(arena, t, dOut);
            Tensor dx = f32(arena, t, dIn), da = f32(arena, r, dIn), db = f32(arena, dOut, r);
            for (Backend be : BACKENDS) {
                assertRejected(() -> be.loraForward(x, null, w, null, a, f32(arena, dOut, r + 1), 1f, h, y), "b must be 4x2");
                assertRejected(() -> be.loraForward(x, null, f32(arena, dOut, dIn + 1), null, a, b, 1f, h, y), "w must be 4x5");
                assertRejected(() -> be.loraForward(x, f32(arena, t, dIn - 1), w, null, a, b, 1f, h, y), "mask must be 3x5");
                assertRejected(() -> be.loraForward(x, null, w, Tensor.zeros(arena, DType.F32, dOut + 1), a, b, 1f, h, y), "bias");
                assertRejected(() -> be.loraForward(x, null, w, null, a, b, 1f, h, f32(arena, t + 1, dOut)), "y must be 3x4");
                Tensor strided = f32(arena, t, dIn + 3).view(0, 0, t, dIn);
                assertRejected(() -> be.loraForward(strided, null, w, null, a, b, 1f, h, y), "x must be contiguous");
                assertRejected(() -> be.loraBackward(x, null, w, a, b, 1f, h, f32(arena, t, dOut + 1), dx, da, db), "g must be 3x4");
                assertRejected(() -> be.loraBackward(x, null, w, a, b, 1f, h, g, dx, f32(arena, r + 1, dIn), db), "da must be 2x5");
                assertRejected(() -> be.loraMerge(w, a, b, 1f, 2f), "sign");
                assertRejected(() -> be.loraMerge(w, a, b, Float.POSITIVE_INFINITY, 1f), "scale");
            }
        }
    }

    @Test
    void int8ShapesAreChecked() {
        try (Arena arena = Arena.ofConfined()) {
            Int8Weights w = Int8Weights.quantize(arena, CpuBackend.get(), f32(arena, 4, 5));
            for (Backend be : BACKENDS) {
                Tensor x = f32(arena, 3, 5), y = f32(arena, 3, 4);
                assertRejected(() -> be.int8Linear(f32(arena, 3, 6), w, null, Activation.NONE, y), "the weights expect 5");
                assertRejected(() -> be.int8Linear(x, w, null, Activation.NONE, f32(arena, 3, 5)), "y must be 3x4");
                assertRejected(() -> be.int8Linear(x, w, null, null, y), "act is null");
                assertRejected(() -> be.int8WeightOnlyLinear(x, w, Tensor.zeros(arena, DType.F32, 5), Activation.RELU, y), "bias");
                assertRejected(() -> be.quantizeRows(x, Tensor.zeros(arena, DType.I8, 3, 4), Tensor.zeros(arena, DType.F32, 3)), "q must be 3x5");
                assertRejected(() -> be.quantizeRows(x, Tensor.zeros(arena, DType.F32, 3, 5), Tensor.zeros(arena, DType.F32, 3)), "q must be I8");
                assertRejected(() -> be.int8Gemm(x, w, Tensor.zeros(arena, DType.I32, 3, 4)), "a must be I8");
                assertRejected(() -> be.int8Gemm(Tensor.zeros(arena, DType.I8, 3, 5), w, Tensor.zeros(arena, DType.I32, 3, 3)), "c must be 3x4");
            }
            assertRejected(() -> Int8Weights.of(arena, Tensor.zeros(arena, DType.I8, 2, 70000), Tensor.zeros(arena, DType.F32, 2)), "exceeds");
            assertRejected(() -> Int8Weights.of(arena, Tensor.zeros(arena, DType.I8, 2, 7), Tensor.zeros(arena, DType.F32, 3)), "scales");
        }
        Arena closed = Arena.ofConfined();
        Int8Weights gone = Int8Weights.quantize(closed, CpuBackend.get(), f32(closed, 4, 5));
        closed.close();
        try (Arena arena = Arena.ofConfined()) {
            for (Backend be : BACKENDS) {
                assertRejected(() -> be.int8Linear(f32(arena, 3, 5), gone, null, Activation.NONE, f32(arena, 3, 4)), "freed");
            }
        }
    }

    @Test
    void doraReductionsCheckTheirShapes() {
        try (Arena arena = Arena.ofConfined()) {
            for (Backend be : BACKENDS) {
                assertRejected(() -> be.sumRowsProduct(f32(arena, 3, 4), f32(arena, 4, 3), Tensor.zeros(arena, DType.F32, 4)), "b must be 3x4");
                assertRejected(() -> be.sumRowsProduct(f32(arena, 3, 4), f32(arena, 3, 4), Tensor.zeros(arena, DType.F32, 3)), "out must hold 4");
                assertRejected(() -> be.rowSquares(f32(arena, 3, 4), Tensor.zeros(arena, DType.F32, 4)), "out must hold 3");
            }
        }
    }

    @Test
    void sizesThatOverflowALongAreRefusedNotWrapped() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment small = arena.allocate(40);
            // 2^62 floats are 2^64 bytes, 0 modulo 2^64: once accepted by a 40-byte segment
            assertRejected(() -> Tensor.wrap(small, DType.F32, 1L << 62), "2^63");
            assertRejected(() -> Tensor.wrap(small, DType.F32, 1L << 31, 1L << 31), "2^63");
            assertRejected(() -> Tensor.wrap(small, DType.F32, 2, 2, Long.MAX_VALUE), "2^63");
            assertRejected(() -> Tensor.wrap(small, DType.F32, 1L << 40, 1L << 40, 1L << 40), "2^63");
            assertRejected(() -> Tensor.zeros(arena, DType.F32, 1L << 62), "2^63");
            assertRejected(() -> Tensor.zeros(arena, DType.F32, 1L << 32, 1L << 32), "2^63");
            assertRejected(() -> Tensor.wrap(small, DType.F32, 2, -3), "negative");
        }
    }

    /** A contiguous tensor over read-only memory, as a mapped file or {@code MemorySegment.asReadOnly} gives. */
    private static Tensor readOnly(Arena arena, DType dtype, long... shape) {
        long n = 1;
        for (long d : shape) n *= d;
        return Tensor.wrap(arena.allocate(dtype.bytes(n), 64).asReadOnly(), dtype, shape);
    }

    /** One case per op family: each op's one check names its read-only output, alike on both host backends; a read-only input is fine. */
    @Test
    void everyOpRefusesAReadOnlyOutputByName() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor x = f32(arena, 3, 4), row = Tensor.zeros(arena, DType.F32, 4), m3 = Tensor.zeros(arena, DType.F32, 3);
            Tensor ids = Tensor.zeros(arena, DType.I32, 3), table = f32(arena, 5, 4), w = f32(arena, 4, 4), a = f32(arena, 2, 4), b = f32(arena, 4, 2);
            Tensor mask = Tensor.zeros(arena, DType.I8, 4, 4);
            Int8Weights w8 = Int8Weights.of(arena, Tensor.zeros(arena, DType.I8, 4, 4), row);
            for (long i = 0; i < w.numel(); i += 3) w.setFloat(i, 1f);
            CsrWeights csr = CsrWeights.fromDense(arena, w);
            Tensor y = readOnly(arena, DType.F32, 3, 4), out4 = readOnly(arena, DType.F32, 4), probs = readOnly(arena, DType.F32, 9);
            record Case(String output, java.util.function.Consumer<Backend> call) {}
            List<Case> cases = List.of(
                    new Case("y", be -> be.scale(2f, y)),
                    new Case("y", be -> be.add(x, x, y)),
                    new Case("c", be -> be.gemm(false, true, 1f, x, x, 0f, readOnly(arena, DType.F32, 3, 3))),
                    new Case("param", be -> be.adamwStep(y, x, x, x, 1e-3f, 0.9f, 0.999f, 1e-8f, 0f, 1)),
                    new Case("y", be -> be.mulRow(row, y)),
                    new Case("y", be -> be.reluForward(x, y)),
                    new Case("dx", be -> be.geluBackward(x, x, y, true)),
                    new Case("y", be -> be.softmaxForward(x, y)),
                    new Case("dx", be -> be.logSoftmaxBackward(x, x, y)),
                    new Case("y", be -> be.lowRankAdd(f32(arena, 3, 2), f32(arena, 2, 4), 1f, y)),
                    new Case("out", be -> be.sumRows(x, out4)),
                    new Case("out", be -> be.sumRowsProduct(x, x, out4)),
                    new Case("mean", be -> be.layerNormForward(x, row, row, 1e-5f, f32(arena, 3, 4), readOnly(arena, DType.F32, 3), m3)),
                    new Case("dgamma", be -> be.layerNormBackward(x, row, m3, m3, x, null, out4, null)),
                    new Case("probs", be -> be.crossEntropyForward(x, ids, 0f, y)),
                    new Case("dlogits", be -> be.crossEntropyBackward(x, ids, 0f, 1f, y)),
                    new Case("probs", be -> be.attentionForward(1, 1, x, x, x, 0.5f, null, probs, f32(arena, 3, 4))),
                    new Case("dk", be -> be.attentionBackward(1, 1, x, x, x, 0.5f, Tensor.zeros(arena, DType.F32, 9), x, f32(arena, 3, 4), y, f32(arena, 3, 4))),
                    new Case("y", be -> be.gatherRowsAdd(ids, table, y)),
                    new Case("dtable", be -> be.scatterRowsAdd(ids, x, readOnly(arena, DType.F32, 5, 4))),
                    new Case("buf", be -> be.sgdStep(f32(arena, 3, 4), x, y, 0.1f, 0.9f, 0f, 0f, false, true)),
                    new Case("q", be -> be.quantizeRows(x, readOnly(arena, DType.I8, 3, 4), m3)),
                    new Case("x", be -> be.dequantizeRows(Tensor.zeros(arena, DType.I8, 3, 4), m3, y)),
                    new Case("y", be -> be.int8Linear(x, w8, null, Activation.NONE, y)),
                    new Case("c", be -> be.int8Gemm(Tensor.zeros(arena, DType.I8, 3, 4), w8, readOnly(arena, DType.I32, 3, 4))),
                    new Case("mask", be -> be.magnitudeMask(w, 0f, readOnly(arena, DType.I8, 4, 4))),
                    new Case("w", be -> be.applyMask(readOnly(arena, DType.F32, 4, 4), mask)),
                    new Case("y", be -> be.csrLinear(x, csr, null, Activation.NONE, y)),
                    new Case("dvalues", be -> be.csrGradValues(x, x, csr, readOnly(arena, DType.F32, csr.nnz()))),
                    new Case("h", be -> be.loraForward(x, null, w, null, a, b, 1f, readOnly(arena, DType.F32, 3, 2), f32(arena, 3, 4))),
                    new Case("da", be -> be.loraBackward(x, null, w, a, b, 1f, f32(arena, 3, 2), x, null, readOnly(arena, DType.F32, 2, 4), f32(arena, 4, 2))),
                    new Case("w", be -> be.loraMerge(readOnly(arena, DType.F32, 4, 4), a, b, 1f, 1f)));
            for (Case c : cases) {
                String[] messages = new String[BACKENDS.size()];
                for (int i = 0; i < messages.length; i++) {
                    Backend be = BACKENDS.get(i);
                    messages[i] = assertThrows(IllegalArgumentException.class, () -> c.call().accept(be), be.name() + ": " + c.output()).getMessage();
                    assertTrue(messages[i].startsWith(c.output() + " is read-only"), be.name() + ": '" + messages[i] + "' should name " + c.output());
                }
                assertEquals(messages[0], messages[1], "the reference and the CPU refuse one call with one message");
            }
            for (Backend be : BACKENDS) be.add(y, y, x); // a read-only input is fine
        }
    }

    @Test
    void nonFiniteOrOutOfRangeScalarsAreRefusedOnEveryBackend() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor x = f32(arena, 3, 4), y = f32(arena, 3, 4), v = Tensor.zeros(arena, DType.F32, 3);
            Tensor g = Tensor.zeros(arena, DType.F32, 4), b = Tensor.zeros(arena, DType.F32, 4);
            for (Backend be : BACKENDS) {
                assertRejected(() -> be.scale(Float.NaN, y), "alpha");
                assertRejected(() -> be.axpy(Float.POSITIVE_INFINITY, x, y), "alpha");
                assertRejected(() -> be.layerNormForward(x, g, b, -1e-5f, y, v, v), "eps");
                assertRejected(() -> be.layerNormForward(x, g, b, Float.NaN, y, v, v), "eps");
                assertRejected(() -> be.adamwStep(y, x, f32(arena, 3, 4), f32(arena, 3, 4), Float.NaN, 0.9f, 0.999f, 1e-8f, 0f, 1), "lr");
                assertRejected(() -> be.adamwStep(y, x, f32(arena, 3, 4), f32(arena, 3, 4), 1e-3f, 1.5f, 0.999f, 1e-8f, 0f, 1), "beta1");
                assertRejected(() -> be.sgdStep(y, x, f32(arena, 3, 4), 0.1f, Float.NaN, 0f, 0f, false, true), "momentum");
                assertRejected(() -> be.magnitudeMask(x, Float.NaN, Tensor.zeros(arena, DType.I8, 3, 4)), "threshold");
            }
            Tensor nanScale = Tensor.of(arena, new float[] {1f, Float.NaN}, 2);
            assertRejected(() -> Int8Weights.of(arena, Tensor.zeros(arena, DType.I8, 2, 4), nanScale), "scale 1 is NaN");
        }
    }

    /** What the boundary fuzz (BoundaryFuzz) found, each kept as a case. */
    @Test
    void whatTheBoundaryFuzzFound() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor m = f32(arena, 3, 4);
            assertEquals(0, m.view(1, 4, 2, 0).toFloatArray().length, "an empty view at the right edge");
            assertEquals(0, m.view(3, 0, 0, 4).toFloatArray().length, "an empty view below the last row");
            m.view(3, 0, 0, 4).copyFrom(f32(arena, 0, 4));
            for (Backend be : BACKENDS) {
                assertRejected(() -> be.magnitudeThreshold(m, 13), "count must be in [0, 12]");
                Tensor heap = Tensor.wrap(MemorySegment.ofArray(new float[12]), DType.F32, 3, 4, 4);
                assertRejected(() -> be.sumRows(heap, Tensor.zeros(arena, DType.F32, 4)), "x is on the Java heap");
                Tensor nan = f32(arena, 3, 4), y = f32(arena, 3, 4);
                nan.setFloat(5, Float.NaN);
                be.reluForward(nan, y);
                assertTrue(Float.isNaN(y.getFloat(5)), be.name() + ": ReLU keeps a NaN");
                Tensor c = f32(arena, 3, 3);
                be.gemm(false, true, 0f, nan, nan, 1f, c); // alpha 0: a and b are not read, as in BLAS
                assertEquals(0f, c.getFloat(1, 1), be.name());
                assertRejected(() -> be.adamwStep(f32(arena, 3, 4), f32(arena, 3, 4), f32(arena, 3, 4), null, 1e-3f, 0.9f, 0.999f, 1e-8f, 0f, 1), "v is null");
            }
        }
    }
}
