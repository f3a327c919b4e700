package org.tune4j.autograd;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.tune4j.backend.Backend;
import org.tune4j.backend.CpuBackend;
import org.tune4j.backend.ReferenceBackend;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;
import org.tune4j.testing.FiniteDifferences;

/**
 * {@link DoraOp#dora} against a plain double-precision DoRA written here: the forward values, and central
 * finite differences of a cross-entropy loss for x, m and b (exact gradients) and for A and B with the
 * row norms of W + s·B A held at their value (the gradient DoRA defines, paper §4.3). Odd sizes.
 */
class DoraGradientTest {
    private static final int T = 5, IN = 7, OUT = 3, R = 2;
    private static final float SCALE = 1.5f;

    private static Tensor random(Arena arena, SplittableRandom rng, long... shape) {
        Tensor t = Tensor.zeros(arena, DType.F32, shape);
        for (long i = 0; i < t.numel(); i++) t.setFloat(i, (float) (rng.nextDouble() - 0.5));
        return t;
    }

    /** Cross-entropy of DoRA logits in double; norms null: computed from W + s·B A, else held at these. */
    private static double loss(Tensor x, Tensor w, Tensor b, Tensor a, Tensor bb, Tensor m, int[] labels, double[] norms) {
        double[][] v = new double[OUT][IN];
        for (int o = 0; o < OUT; o++) for (int j = 0; j < IN; j++) {
            double ba = 0;
            for (int k = 0; k < R; k++) ba += (double) bb.getFloat(o, k) * a.getFloat(k, j);
            v[o][j] = w.getFloat(o, j) + SCALE * ba;
        }
        double total = 0;
        for (int t = 0; t < T; t++) {
            double[] logits = new double[OUT];
            double max = Double.NEGATIVE_INFINITY;
            for (int o = 0; o < OUT; o++) {
                double norm = 0, dot = 0;
                for (int j = 0; j < IN; j++) {
                    norm += v[o][j] * v[o][j];
                    dot += (double) x.getFloat(t, j) * v[o][j];
                }
                norm = norms == null ? Math.sqrt(norm) : norms[o];
                logits[o] = m.getFloat(o) / norm * dot + b.getFloat(o);
                max = Math.max(max, logits[o]);
            }
            double sum = 0;
            for (double l : logits) sum += Math.exp(l - max);
            total += -(logits[labels[t]] - max - Math.log(sum));
        }
        return total / T;
    }

    @Test
    void forwardAndGradientsMatchAPlainDora() {
        for (Backend backend : new Backend[] {new ReferenceBackend(), CpuBackend.get()}) {
            SplittableRandom rng = new SplittableRandom(5);
            try (Arena arena = Arena.ofConfined()) {
                Tensor x = random(arena, rng, T, IN), w = random(arena, rng, OUT, IN), b = random(arena, rng, OUT), a = random(arena, rng, R, IN),
                        bb = random(arena, rng, OUT, R), m = random(arena, rng, OUT);
                int[] labels = {0, 2, 1, 1, 0};
                Tensor labelTensor = Tensor.zeros(arena, DType.I32, T);
                for (int i = 0; i < T; i++) labelTensor.setInt(i, labels[i]);
                Parameter pw = new Parameter(arena, OUT, IN), pb = new Parameter(arena, OUT), pa = new Parameter(arena, R, IN),
                        pbb = new Parameter(arena, OUT, R), pm = new Parameter(arena, OUT);
                pw.value().copyFrom(w);
                pb.value().copyFrom(b);
                pa.value().copyFrom(a);
                pbb.value().copyFrom(bb);
                pm.value().copyFrom(m);
                pw.setTrainable(false);
                float[] dx;
                try (Tape t = new Tape(backend, true)) {
                    Var in = t.input(x, true);
                    Var loss = t.crossEntropy(DoraOp.dora(t, in, t.param(pw), t.param(pb), t.param(pa), t.param(pbb), t.param(pm), SCALE, null), labelTensor, 0f);
                    assertEquals(loss(x, w, b, a, bb, m, labels, null), loss.value().getFloat(0), 1e-5, backend.name() + ": forward");
                    t.backward(loss);
                    dx = in.grad().toFloatArray();
                }
                double[] norms = new double[OUT];
                for (int o = 0; o < OUT; o++) {
                    double n = 0;
                    for (int j = 0; j < IN; j++) {
                        double ba = 0;
                        for (int k = 0; k < R; k++) ba += (double) bb.getFloat(o, k) * a.getFloat(k, j);
                        n += Math.pow(w.getFloat(o, j) + SCALE * ba, 2);
                    }
                    norms[o] = Math.sqrt(n);
                }
                check(backend, "x", x, dx, () -> loss(x, w, b, a, bb, m, labels, null));
                check(backend, "m", m, pm.grad().toFloatArray(), () -> loss(x, w, b, a, bb, m, labels, null));
                check(backend, "b", b, pb.grad().toFloatArray(), () -> loss(x, w, b, a, bb, m, labels, null));
                check(backend, "A", a, pa.grad().toFloatArray(), () -> loss(x, w, b, a, bb, m, labels, norms));
                check(backend, "B", bb, pbb.grad().toFloatArray(), () -> loss(x, w, b, a, bb, m, labels, norms));
            }
        }
    }

    private static void check(Backend backend, String name, Tensor theta, float[] analytic, java.util.function.DoubleSupplier loss) {
        double[] numeric = FiniteDifferences.gradient(theta, loss, 1e-3);
        for (int i = 0; i < numeric.length; i++) {
            assertEquals(numeric[i], analytic[i], 1e-3 * (1 + Math.abs(numeric[i])), backend.name() + ": d" + name + "[" + i + "]");
        }
    }
}
