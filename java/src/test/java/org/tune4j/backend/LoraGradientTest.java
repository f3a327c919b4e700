package org.tune4j.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.tune4j.backend.TestTensors.random;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * The oracle's LoRA backward against central finite differences of its forward, in double precision:
 * L = Σ y ⊙ g, so dL/dθ = Σ g ⊙ dy/dθ. This is what makes the reference a trustworthy oracle.
 */
class LoraGradientTest {
    private static final long T = 3, D_IN = 5, D_OUT = 4, R = 2;
    private static final float SCALE = 1.5f;

    /** L(x, A, B) in double, straight from the definition y = x Wᵀ + s (x̃ Aᵀ) Bᵀ. */
    private static double loss(double[][] x, double[][] mask, double[][] w, double[][] a, double[][] b, double[][] g) {
        double l = 0;
        for (int i = 0; i < T; i++)
            for (int o = 0; o < D_OUT; o++) {
                double y = 0;
                for (int p = 0; p < D_IN; p++) y += x[i][p] * w[o][p];
                for (int q = 0; q < R; q++) {
                    double h = 0;
                    for (int p = 0; p < D_IN; p++) h += x[i][p] * mask[i][p] * a[q][p];
                    y += SCALE * h * b[o][q];
                }
                l += y * g[i][o];
            }
        return l;
    }

    private static double[][] toDouble(Tensor t) {
        double[][] out = new double[(int) t.dim(0)][(int) t.dim(1)];
        for (int i = 0; i < out.length; i++) for (int j = 0; j < out[i].length; j++) out[i][j] = t.getFloat(i, j);
        return out;
    }

    /** Central difference of the loss with respect to every element of p. */
    private static double[][] numeric(double[][] p, java.util.function.DoubleSupplier loss) {
        double eps = 1e-6;
        double[][] grad = new double[p.length][p[0].length];
        for (int i = 0; i < p.length; i++)
            for (int j = 0; j < p[i].length; j++) {
                double keep = p[i][j];
                p[i][j] = keep + eps;
                double up = loss.getAsDouble();
                p[i][j] = keep - eps;
                double down = loss.getAsDouble();
                p[i][j] = keep;
                grad[i][j] = (up - down) / (2 * eps);
            }
        return grad;
    }

    private static void assertGrad(double[][] expected, Tensor actual, String what) {
        for (int i = 0; i < expected.length; i++)
            for (int j = 0; j < expected[i].length; j++)
                assertEquals(expected[i][j], actual.getFloat(i, j), 1e-4 * (1 + Math.abs(expected[i][j])), what + "[" + i + "][" + j + "]");
    }

    @Test
    void referenceBackwardMatchesFiniteDifferences() {
        SplittableRandom rng = new SplittableRandom(3);
        ReferenceBackend ref = new ReferenceBackend();
        try (Arena arena = Arena.ofConfined()) {
            Tensor x = random(arena, rng, T, D_IN), w = random(arena, rng, D_OUT, D_IN), a = random(arena, rng, R, D_IN);
            Tensor b = random(arena, rng, D_OUT, R), g = random(arena, rng, T, D_OUT);
            Tensor mask = TestTensors.mask(arena, rng, T, D_IN, 0.3);
            Tensor h = Tensor.zeros(arena, DType.F32, T, R), y = Tensor.zeros(arena, DType.F32, T, D_OUT);
            Tensor dx = Tensor.zeros(arena, DType.F32, T, D_IN), da = Tensor.zeros(arena, DType.F32, R, D_IN);
            Tensor db = Tensor.zeros(arena, DType.F32, D_OUT, R);
            ref.loraForward(x, mask, w, null, a, b, SCALE, h, y);
            ref.loraBackward(x, mask, w, a, b, SCALE, h, g, dx, da, db);

            double[][] xd = toDouble(x), md = toDouble(mask), wd = toDouble(w), ad = toDouble(a), bd = toDouble(b), gd = toDouble(g);
            assertGrad(numeric(xd, () -> loss(xd, md, wd, ad, bd, gd)), dx, "dx");
            assertGrad(numeric(ad, () -> loss(xd, md, wd, ad, bd, gd)), da, "da");
            assertGrad(numeric(bd, () -> loss(xd, md, wd, ad, bd, gd)), db, "db");
        }
    }
}
