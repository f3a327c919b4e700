package org.tune4j.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.tune4j.backend.TestTensors.random;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import java.util.function.DoubleSupplier;
import org.junit.jupiter.api.Test;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;
import org.tune4j.testing.FiniteDifferences;

/**
 * The oracle's backward ops against central finite differences of its forward ops: for L = Σ y ⊙ g,
 * dL/dθ must equal what the backward op accumulates. Small shapes; the loss is evaluated in double.
 */
class OpsGradientTest {
    private static final ReferenceBackend REF = new ReferenceBackend();
    private static final double EPS = 1e-3;

    /** dL/dθ_i numerically, perturbing θ in place. */
    private static double[] numeric(Tensor theta, DoubleSupplier loss) {
        return FiniteDifferences.gradient(theta, loss, EPS);
    }

    private static double dot(Tensor y, Tensor g) {
        double s = 0;
        for (long i = 0; i < y.numel(); i++) s += (double) y.getFloat(i) * g.getFloat(i);
        return s;
    }

    private static void assertGrad(double[] expected, Tensor actual, String what) {
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i], actual.getFloat(i), 2e-3 * (1 + Math.abs(expected[i])), what + "[" + i + "]");
        }
    }

    @Test
    void geluSoftmaxLayerNorm() {
        SplittableRandom rng = new SplittableRandom(1);
        try (Arena arena = Arena.ofConfined()) {
            long m = 3, n = 5;
            Tensor x = random(arena, rng, m, n), g = random(arena, rng, m, n), y = Tensor.zeros(arena, DType.F32, m, n);
            for (boolean exact : new boolean[] {false, true}) {
                Tensor dx = Tensor.zeros(arena, DType.F32, m, n);
                REF.geluBackward(x, g, dx, exact);
                assertGrad(numeric(x, () -> {
                    REF.geluForward(x, y, exact);
                    return dot(y, g);
                }), dx, "gelu exact=" + exact);
            }
            Tensor dr = Tensor.zeros(arena, DType.F32, m, n);
            REF.reluBackward(x, g, dr);
            assertGrad(numeric(x, () -> {
                REF.reluForward(x, y);
                return dot(y, g);
            }), dr, "relu");
            REF.logSoftmaxForward(x, y);
            Tensor dls = Tensor.zeros(arena, DType.F32, m, n);
            REF.logSoftmaxBackward(y, g, dls);
            assertGrad(numeric(x, () -> {
                REF.logSoftmaxForward(x, y);
                return dot(y, g);
            }), dls, "logSoftmax");
            REF.softmaxForward(x, y);
            Tensor dx = Tensor.zeros(arena, DType.F32, m, n);
            REF.softmaxBackward(y, g, dx);
            assertGrad(numeric(x, () -> {
                REF.softmaxForward(x, y);
                return dot(y, g);
            }), dx, "softmax");

            Tensor gamma = Tensor.of(arena, random(arena, rng, 1, n).toFloatArray(), n), beta = Tensor.of(arena, random(arena, rng, 1, n).toFloatArray(), n);
            Tensor mean = Tensor.zeros(arena, DType.F32, m), rstd = Tensor.zeros(arena, DType.F32, m);
            Tensor dxl = Tensor.zeros(arena, DType.F32, m, n), dg = Tensor.zeros(arena, DType.F32, n), db = Tensor.zeros(arena, DType.F32, n);
            REF.layerNormForward(x, gamma, beta, 1e-5f, y, mean, rstd);
            REF.layerNormBackward(x, gamma, mean, rstd, g, dxl, dg, db);
            DoubleSupplier ln = () -> {
                REF.layerNormForward(x, gamma, beta, 1e-5f, y, mean, rstd);
                return dot(y, g);
            };
            assertGrad(numeric(x, ln), dxl, "layerNorm dx");
            assertGrad(numeric(gamma, ln), dg, "layerNorm dgamma");
            assertGrad(numeric(beta, ln), db, "layerNorm dbeta");
        }
    }

    @Test
    void crossEntropyWithSmoothing() {
        SplittableRandom rng = new SplittableRandom(2);
        try (Arena arena = Arena.ofConfined()) {
            long m = 4, n = 6;
            Tensor logits = random(arena, rng, m, n), probs = Tensor.zeros(arena, DType.F32, m, n), labels = Tensor.zeros(arena, DType.I32, m);
            for (long i = 0; i < m; i++) labels.setInt(i, (int) (i * 5 % n));
            for (float smoothing : new float[] {0f, 0.2f}) {
                REF.crossEntropyForward(logits, labels, smoothing, probs);
                Tensor d = Tensor.zeros(arena, DType.F32, m, n);
                REF.crossEntropyBackward(probs, labels, smoothing, 1.5f, d);
                assertGrad(numeric(logits, () -> 1.5 * REF.crossEntropyForward(logits, labels, smoothing, probs)), d, "cross-entropy " + smoothing);
            }
        }
    }

    @Test
    void attention() {
        SplittableRandom rng = new SplittableRandom(3);
        int batch = 2, heads = 2, seq = 3, dh = 2;
        long rows = (long) batch * seq, d = (long) heads * dh;
        try (Arena arena = Arena.ofConfined()) {
            Tensor qkv = random(arena, rng, rows, 3 * d), g = random(arena, rng, rows, d);
            Tensor q = qkv.view(0, 0, rows, d), k = qkv.view(0, d, rows, d), v = qkv.view(0, 2 * d, rows, d);
            Tensor probs = Tensor.zeros(arena, DType.F32, (long) batch * heads * seq * seq), out = Tensor.zeros(arena, DType.F32, rows, d);
            Tensor dqkv = Tensor.zeros(arena, DType.F32, rows, 3 * d);
            REF.attentionForward(batch, heads, q, k, v, 0.7f, null, probs, out);
            REF.attentionBackward(batch, heads, q, k, v, 0.7f, probs, g, dqkv.view(0, 0, rows, d), dqkv.view(0, d, rows, d), dqkv.view(0, 2 * d, rows, d));
            assertGrad(numeric(qkv, () -> {
                REF.attentionForward(batch, heads, q, k, v, 0.7f, null, probs, out);
                return dot(out, g);
            }), dqkv, "attention dq|dk|dv");
        }
    }

    @Test
    void maskedAttentionIgnoresPaddedKeys() {
        SplittableRandom rng = new SplittableRandom(4);
        int batch = 2, heads = 2, seq = 4, dh = 2;
        long rows = (long) batch * seq, d = (long) heads * dh;
        try (Arena arena = Arena.ofConfined()) {
            Tensor qkv = random(arena, rng, rows, 3 * d), g = random(arena, rng, rows, d);
            Tensor q = qkv.view(0, 0, rows, d), k = qkv.view(0, d, rows, d), v = qkv.view(0, 2 * d, rows, d);
            Tensor lengths = Tensor.zeros(arena, DType.I32, batch);
            lengths.setInt(0, 2);
            lengths.setInt(1, 4);
            Tensor probs = Tensor.zeros(arena, DType.F32, (long) batch * heads * seq * seq), out = Tensor.zeros(arena, DType.F32, rows, d);
            Tensor dqkv = Tensor.zeros(arena, DType.F32, rows, 3 * d);
            REF.attentionForward(batch, heads, q, k, v, 0.7f, lengths, probs, out);
            REF.attentionBackward(batch, heads, q, k, v, 0.7f, probs, g, dqkv.view(0, 0, rows, d), dqkv.view(0, d, rows, d), dqkv.view(0, 2 * d, rows, d));
            assertGrad(numeric(qkv, () -> {
                REF.attentionForward(batch, heads, q, k, v, 0.7f, lengths, probs, out);
                return dot(out, g);
            }), dqkv, "masked attention dq|dk|dv");
            // sequence 0's padded keys (rows 2, 3) change nothing: their k and v get no gradient
            for (long r = 2; r < 4; r++)
                for (long c = d; c < 3 * d; c++) assertEquals(0f, dqkv.getFloat(r, c), "padded key's gradient at " + r + "," + c);
        }
    }

    @Test
    void embeddingRows() {
        SplittableRandom rng = new SplittableRandom(5);
        try (Arena arena = Arena.ofConfined()) {
            Tensor ids = Tensor.zeros(arena, DType.I32, 5);
            int[] idv = {3, 0, 3, 2, 3};
            for (int i = 0; i < 5; i++) ids.setInt(i, idv[i]);
            Tensor table = random(arena, rng, 4, 3), g = random(arena, rng, 5, 3), y = Tensor.zeros(arena, DType.F32, 5, 3);
            Tensor dtable = Tensor.zeros(arena, DType.F32, 4, 3);
            REF.scatterRowsAdd(ids, g, dtable);
            assertGrad(numeric(table, () -> {
                y.segment().fill((byte) 0);
                REF.gatherRowsAdd(ids, table, y);
                return dot(y, g);
            }), dtable, "gather's table gradient");
        }
    }
}
