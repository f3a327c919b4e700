package org.tune4j.nn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.tune4j.autograd.Tape;
import org.tune4j.autograd.Var;
import org.tune4j.backend.Activation;
import org.tune4j.backend.Backend;
import org.tune4j.backend.CpuBackend;
import org.tune4j.backend.ReferenceBackend;
import org.tune4j.backend.TestTensors;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * A compressed layer (int8 or 2:4, with or without an unmerged adapter) computes x W'ᵀ + b with W' its
 * effective weight, checked against the reference backend on odd shapes; its input gradient is W' by
 * finite differences; it loads back from its own tensors.
 */
class CompressedLinearTest {
    private static final Backend CPU = CpuBackend.get();
    private static final ReferenceBackend REF = new ReferenceBackend();

    private static Tensor random(Arena arena, SplittableRandom rng, double scale, long... shape) {
        Tensor t = Tensor.zeros(arena, DType.F32, shape);
        for (long i = 0; i < t.numel(); i++) t.setFloat(i, (float) (scale * (rng.nextDouble() * 2 - 1)));
        return t;
    }

    /** y = act(x W'ᵀ + b) by the reference backend. */
    private static Tensor expected(Arena arena, Tensor x, Tensor w, Tensor bias, Activation act) {
        Tensor y = Tensor.zeros(arena, DType.F32, x.dim(0), w.dim(0));
        REF.gemm(false, true, 1f, x, w, 0f, y);
        if (bias != null) REF.addRow(bias, y);
        for (long i = 0; i < y.numel(); i++) y.setFloat(i, act.apply(y.getFloat(i)));
        return y;
    }

    @Test
    void everyFormatMatchesTheReferenceOnItsEffectiveWeight() {
        SplittableRandom rng = new SplittableRandom(3);
        for (CompressedLinear.Format format : CompressedLinear.Format.values()) {
            for (boolean adapter : new boolean[] {false, true}) {
                for (int[] shape : new int[][] {{1, 36, 7}, {5, 20, 33}, {17, 132, 65}}) {
                    int m = shape[0], in = shape[1], out = shape[2], r = 3;
                    try (Arena arena = Arena.ofConfined()) {
                        Tensor w = random(arena, rng, 1, out, in), b = random(arena, rng, 1, out), x = random(arena, rng, 1, m, in);
                        Tensor a = adapter ? random(arena, rng, 0.3, r, in) : null, bb = adapter ? random(arena, rng, 0.3, out, r) : null;
                        CompressedLinear c = CompressedLinear.compress(arena, CPU, format, w, b, a, bb, 0.75f);
                        for (Activation act : new Activation[] {Activation.NONE, Activation.GELU}) {
                            Tensor y = Tensor.zeros(arena, DType.F32, m, out);
                            Tensor scratch = c.scratchColumns() == 0 ? null : Tensor.zeros(arena, DType.F32, m, c.scratchColumns());
                            c.infer(CPU, x, y, act, scratch);
                            // int8 also quantizes x per row above 8 rows: x in [-1, 1] rounds by up to 1/254, an rms error
                            // of 0.0023 per term, times |w| ≈ 0.58, over `in` terms: about 0.0013·√in; allow 4 of those
                            double tol = format.isInt8() ? 0.005 * Math.sqrt(in) : 1e-4;
                            TestTensors.assertClose(expected(arena, x, c.effectiveWeight(), b, act), y, tol, format + " adapter " + adapter + " " + m + "x" + in + "x" + out + " " + act);
                        }
                        if (format != CompressedLinear.Format.INT8) {
                            Tensor stored = c.tensors().get("weight");
                            for (long j = 0; j < out; j++)
                                for (long g = 0; g < in / 4; g++) {
                                    int zeros = 0;
                                    for (long p = j * in + 4 * g; p < j * in + 4 * g + 4; p++) {
                                        if (format.isInt8() ? stored.getByte(p) == 0 : stored.getFloat(p) == 0f) zeros++;
                                    }
                                    assertTrue(zeros >= 2, format + " row " + j + " group " + g + " keeps at most 2 of 4");
                                }
                        } else {
                            assertTrue(c.relativeError() < 0.01, "int8 weight error " + c.relativeError());
                        }
                    }
                }
            }
        }
    }

    @Test
    void inputGradientIsTheEffectiveWeightByFiniteDifferences() {
        SplittableRandom rng = new SplittableRandom(4);
        try (Arena arena = Arena.ofConfined()) {
            int m = 3, in = 12, out = 5;
            Tensor w = random(arena, rng, 1, out, in), b = random(arena, rng, 1, out);
            CompressedLinear c = CompressedLinear.compress(arena, CPU, CompressedLinear.Format.TWO_FOUR, w, b,
                    random(arena, rng, 0.5, 2, in), random(arena, rng, 0.5, out, 2), 1.5f);
            Tensor x = random(arena, rng, 1, m, in), probe = random(arena, rng, 1, m, out);
            Tensor analytic = Tensor.zeros(arena, DType.F32, m, in);
            try (Tape t = new Tape(CPU, true)) {
                Var xv = t.input(x, true);
                Var y = c.forward(t, xv);
                Var loss = t.crossEntropy(y, labels(arena, m), 0f);
                t.backward(loss);
                analytic.copyFrom(xv.grad());
            }
            double eps = 1e-2;
            for (long i = 0; i < x.numel(); i++) {
                float keep = x.getFloat(i);
                x.setFloat(i, (float) (keep + eps));
                double up = loss(c, x, arena, m);
                x.setFloat(i, (float) (keep - eps));
                double down = loss(c, x, arena, m);
                x.setFloat(i, keep);
                assertEquals((up - down) / (2 * eps), analytic.getFloat(i), 2e-3, "d loss / d x[" + i + "]");
            }
            assertTrue(probe.numel() > 0);
        }
    }

    /** Plain int8 layers on one input in one call give the separate calls' bits and input gradient; others are refused. */
    @Test
    void int8LayersSharingAnInputMatchTheSeparateCalls() {
        SplittableRandom rng = new SplittableRandom(6);
        for (CompressedLinear.Format format : new CompressedLinear.Format[] {CompressedLinear.Format.INT8, CompressedLinear.Format.INT8_TWO_FOUR}) {
            try (Arena arena = Arena.ofConfined()) {
                int m = 13, in = 68;
                Layer[] layers = new Layer[3];
                for (int l = 0; l < 3; l++) layers[l] = CompressedLinear.compress(arena, CPU, format, random(arena, rng, 1, 70 - 30 * l, in), l == 1 ? null : random(arena, rng, 1, 70 - 30 * l), null, null, 0f);
                Tensor x = random(arena, rng, 1, m, in);
                Tensor gShared = Tensor.zeros(arena, DType.F32, m, in), gSeparate = Tensor.zeros(arena, DType.F32, m, in);
                for (boolean shared : new boolean[] {true, false}) {
                    try (Tape t = new Tape(CPU, true)) {
                        Var xv = t.input(x, true);
                        Var[] ys = shared ? CompressedLinear.forwardShared(t, xv, layers) : new Var[] {layers[0].forward(t, xv), layers[1].forward(t, xv), layers[2].forward(t, xv)};
                        Tensor labels = labels(arena, m);
                        Var loss = t.add(t.add(t.crossEntropy(ys[0], labels, 0f), t.crossEntropy(ys[1], labels, 0f)), t.crossEntropy(ys[2], labels, 0f));
                        t.backward(loss);
                        (shared ? gShared : gSeparate).copyFrom(xv.grad());
                        if (shared) {
                            for (int l = 0; l < 3; l++) {
                                Tensor y = Tensor.zeros(arena, DType.F32, m, ((CompressedLinear) layers[l]).out());
                                ((CompressedLinear) layers[l]).infer(CPU, x, y, Activation.NONE, null);
                                TestTensors.assertBitwiseEqual(y, ys[l].value(), format + " layer " + l);
                            }
                        }
                    }
                }
                TestTensors.assertClose(gSeparate, gShared, 1e-5, format + " input gradient");
                try (Tape t = new Tape(CPU, false)) {
                    Var xv = t.input(x, false);
                    Layer adapted = CompressedLinear.compress(arena, CPU, format, random(arena, rng, 1, 7, in), null, random(arena, rng, 0.3, 2, in), random(arena, rng, 0.3, 7, 2), 1f);
                    Layer twoFour = CompressedLinear.compress(arena, CPU, CompressedLinear.Format.TWO_FOUR, random(arena, rng, 1, 7, in), null, null, null, 0f);
                    Layer other = CompressedLinear.compress(arena, CPU, format == CompressedLinear.Format.INT8 ? CompressedLinear.Format.INT8_TWO_FOUR : CompressedLinear.Format.INT8,
                            random(arena, rng, 1, 7, in), null, null, null, 0f);
                    assertEquals(null, CompressedLinear.forwardShared(t, xv, layers[0], adapted), "an adapter: one by one");
                    assertEquals(null, CompressedLinear.forwardShared(t, xv, layers[0], twoFour), "2:4 without int8: one by one");
                    assertEquals(null, CompressedLinear.forwardShared(t, xv, layers[0], other), "dense and 2:4 int8 mixed: one by one");
                }
            }
        }
    }

    private static Tensor labels(Arena arena, int m) {
        Tensor l = Tensor.zeros(arena, DType.I32, m);
        for (int i = 0; i < m; i++) l.setInt(i, i % 5);
        return l;
    }

    private static double loss(CompressedLinear c, Tensor x, Arena arena, int m) {
        try (Tape t = new Tape(CPU, false)) {
            return t.crossEntropy(c.forward(t, t.input(x, false)), labels(arena, m), 0f).value().getFloat(0);
        }
    }

    @Test
    void loadsBackFromItsTensorsAndRejectsBadOnes() {
        SplittableRandom rng = new SplittableRandom(5);
        try (Arena arena = Arena.ofConfined()) {
            Tensor w = random(arena, rng, 1, 9, 16), b = random(arena, rng, 1, 9), x = random(arena, rng, 1, 11, 16);
            for (CompressedLinear.Format format : CompressedLinear.Format.values()) {
                CompressedLinear c = CompressedLinear.compress(arena, CPU, format, w, b, random(arena, rng, 0.3, 2, 16), random(arena, rng, 0.3, 9, 2), 2f);
                CompressedLinear back = CompressedLinear.load(arena, CPU, format, c.tensors(), 2f);
                Tensor y1 = Tensor.zeros(arena, DType.F32, 11, 9), y2 = Tensor.zeros(arena, DType.F32, 11, 9);
                c.infer(CPU, x, y1, Activation.NONE, Tensor.zeros(arena, DType.F32, 11, 2));
                back.infer(CPU, x, y2, Activation.NONE, Tensor.zeros(arena, DType.F32, 11, 2));
                TestTensors.assertClose(y1, y2, 1e-6, format + " reloaded");
            }
            CompressedLinear c = CompressedLinear.compress(arena, CPU, CompressedLinear.Format.INT8, w, b, null, null, 0f);
            Map<String, Tensor> noScales = Map.of("weight", c.tensors().get("weight"));
            assertThrows(IllegalArgumentException.class, () -> CompressedLinear.load(arena, CPU, CompressedLinear.Format.INT8, noScales, 0f));
            Map<String, Tensor> f32AsInt8 = Map.of("weight", w, "weight_scale", b);
            assertThrows(IllegalArgumentException.class, () -> CompressedLinear.load(arena, CPU, CompressedLinear.Format.INT8, f32AsInt8, 0f));
            assertThrows(IllegalArgumentException.class, () -> CompressedLinear.compress(arena, CPU, CompressedLinear.Format.TWO_FOUR,
                    random(arena, rng, 1, 4, 10), null, null, null, 0f));
            assertThrows(IllegalArgumentException.class, () -> CompressedLinear.Format.of("int4"));
            // int8 values that are not 2:4 (a dense int8 layer's) are refused as an int8 2:4 layer, with the reason
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> CompressedLinear.load(arena, CPU, CompressedLinear.Format.INT8_TWO_FOUR, c.tensors(), 0f));
            assertTrue(e.getMessage().contains("not 2:4"), e.getMessage());
        }
    }
}
