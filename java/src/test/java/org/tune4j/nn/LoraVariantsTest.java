package org.tune4j.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.tune4j.autograd.Tape;
import org.tune4j.backend.Activation;
import org.tune4j.backend.CpuBackend;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/** PiSSA's initialisation (and the top singular triplets it needs) and DoRA's layer: same output at init, merge and unmerge. */
class LoraVariantsTest {
    private static double[][] orthonormalRows(int count, int dim, SplittableRandom rng) {
        double[][] q = new double[count][dim];
        for (int k = 0; k < count; k++) {
            for (int j = 0; j < dim; j++) q[k][j] = rng.nextDouble() - 0.5;
            for (int p = 0; p < k; p++) {
                double d = 0;
                for (int j = 0; j < dim; j++) d += q[k][j] * q[p][j];
                for (int j = 0; j < dim; j++) q[k][j] -= d * q[p][j];
            }
            double n = 0;
            for (double v : q[k]) n += v * v;
            for (int j = 0; j < dim; j++) q[k][j] /= Math.sqrt(n);
        }
        return q;
    }

    @Test
    void topSingularTripletsOfAKnownMatrix() {
        SplittableRandom rng = new SplittableRandom(3);
        int m = 37, n = 23;
        double[] sigma = {9, 7, 5.5, 3, 1, 0.5, 0.25};
        double[][] u = orthonormalRows(sigma.length, m, rng), v = orthonormalRows(sigma.length, n, rng);
        double[] w = new double[m * n];
        for (int k = 0; k < sigma.length; k++) for (int i = 0; i < m; i++) for (int j = 0; j < n; j++) w[i * n + j] += sigma[k] * u[k][i] * v[k][j];
        TopSingular top = TopSingular.of(w, m, n, 3, 60, new SplittableRandom(1));
        assertArrayEquals(new double[] {9, 7, 5.5}, top.values, 1e-9);
        for (int k = 0; k < 3; k++) { // the same vectors up to sign
            double du = 0, dv = 0;
            for (int i = 0; i < m; i++) du += top.u[k][i] * u[k][i];
            for (int j = 0; j < n; j++) dv += top.v[k][j] * v[k][j];
            assertEquals(1, Math.abs(du), 1e-9, "u" + k);
            assertEquals(du, dv, 1e-9, "u" + k + " and v" + k + " carry the same sign");
        }
        assertThrows(IllegalArgumentException.class, () -> TopSingular.of(w, m, n, 24, 10, new SplittableRandom(1)));
    }

    private static Tensor random(Arena arena, SplittableRandom rng, long rows, long cols) {
        Tensor t = Tensor.zeros(arena, DType.F32, rows, cols);
        for (long i = 0; i < t.numel(); i++) t.setFloat(i, (float) (rng.nextDouble() - 0.5));
        return t;
    }

    private static float[] forward(Layer layer, Tensor x) {
        try (Tape t = new Tape(CpuBackend.get(), false)) {
            return layer.forward(t, t.input(x, false)).value().toFloatArray();
        }
    }

    private static void assertClose(float[] expected, float[] actual, double tolerance, String what) {
        for (int i = 0; i < expected.length; i++) assertEquals(expected[i], actual[i], tolerance * (1 + Math.abs(expected[i])), what + "[" + i + "]");
    }

    @Test
    void pissaKeepsTheLayersOutputAndPutsThePrincipalPartInTheAdapter() {
        SplittableRandom rng = new SplittableRandom(9);
        try (Arena arena = Arena.ofConfined()) {
            Linear base = new Linear(arena, 19, 11, true, rng);
            Tensor x = random(arena, rng, 6, 19);
            float[] before = forward(base, x);
            double frobeniusBefore = frobenius(base.weight.value());
            float[] w0 = base.weight.value().toFloatArray();
            LoraLinear lora = new LoraLinear(arena, base, 3, 6f, 0f, false, rng);
            lora.initPissa(arena, new SplittableRandom(4));
            assertClose(before, forward(lora, x), 1e-5, "output after PiSSA");
            // what left the base is the rank-3 principal part: ‖W_res‖² = ‖W‖² − σ1² − σ2² − σ3², ‖s·B A‖_F² = σ1² + σ2² + σ3²
            Tensor delta = Tensor.zeros(arena, DType.F32, 11, 19);
            CpuBackend.get().loraMerge(delta, lora.loraA().value(), lora.loraB().value(), lora.scale(), 1f);
            double principal = Math.pow(frobenius(delta), 2);
            assertEquals(Math.pow(frobeniusBefore, 2), Math.pow(frobenius(base.weight.value()), 2) + principal, 1e-4);
            assertTrue(principal > 0.3 * Math.pow(frobeniusBefore, 2), "3 of 11 directions carry " + principal);
            // after training moved A and B, the rank-2r plain adapter over the original W gives the same weight
            for (long i = 0; i < lora.loraA().value().numel(); i++) lora.loraA().value().setFloat(i, lora.loraA().value().getFloat(i) + 0.01f * (i % 5));
            Tensor adaptedW = base.weight.value().copy(arena), originalW = Tensor.of(arena, w0, 11, 19);
            CpuBackend.get().loraMerge(adaptedW, lora.loraA().value(), lora.loraB().value(), lora.scale(), 1f);
            Tensor[] plain = lora.asPlainLora(arena);
            assertArrayEquals(new long[] {6, 19}, plain[0].shape());
            CpuBackend.get().loraMerge(originalW, plain[0], plain[1], lora.scale(), 1f);
            assertClose(adaptedW.toFloatArray(), originalW.toFloatArray(), 1e-5, "W + s·B'A'");
        }
    }

    private static double frobenius(Tensor t) {
        double s = 0;
        for (long i = 0; i < t.numel(); i++) s += (double) t.getFloat(i) * t.getFloat(i);
        return Math.sqrt(s);
    }

    @Test
    void doraStartsAsTheBaseMergesAndUnmerges() {
        SplittableRandom rng = new SplittableRandom(10);
        try (Arena arena = Arena.ofConfined()) {
            Linear base = new Linear(arena, 13, 9, true, rng);
            Tensor x = random(arena, rng, 4, 13);
            float[] before = forward(base, x);
            float[] w0 = base.weight.value().toFloatArray();
            LoraLinear dora = new LoraLinear(arena, base, 2, 4f, 0f, false, true, rng);
            assertEquals(9, dora.magnitude().value().numel());
            assertClose(before, forward(dora, x), 1e-5, "DoRA at init");
            // train-like change: B and m away from their init
            for (long i = 0; i < dora.loraB().value().numel(); i++) dora.loraB().value().setFloat(i, (float) (rng.nextDouble() - 0.5));
            for (long o = 0; o < 9; o++) dora.magnitude().value().setFloat(o, dora.magnitude().value().getFloat(o) * (float) (0.5 + rng.nextDouble()));
            float[] adapted = forward(dora, x);
            Tensor y = Tensor.zeros(arena, DType.F32, 4, 9);
            assertThrows(IllegalStateException.class, () -> dora.infer(CpuBackend.get(), x, y, Activation.NONE, Tensor.zeros(arena, DType.F32, 4, 2)));
            dora.merge(CpuBackend.get());
            assertClose(adapted, forward(dora, x), 1e-5, "merged");
            dora.infer(CpuBackend.get(), x, y, Activation.NONE, Tensor.zeros(arena, DType.F32, 4, 2));
            assertClose(adapted, y.toFloatArray(), 1e-5, "merged infer");
            dora.unmerge(CpuBackend.get());
            assertClose(w0, base.weight.value().toFloatArray(), 1e-5, "W after unmerge");
            assertClose(adapted, forward(dora, x), 1e-5, "unmerged again");
        }
    }

    /** Lora.fold: the adapters folded into their bases and the bases put back, the model's output unchanged, a new adapter injectable. */
    @Test
    void foldPutsEachBaseBackWithItsAdapterInside() {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rng = new SplittableRandom(5);
            Linear fc = new Linear(arena, 7, 5, true, rng);
            Module root = new Module() {
                {
                    register("fc", fc);
                }
            };
            Lora.inject(root, arena, new Lora.Config(2, 4f, 0f, false, java.util.List.of("fc"), java.util.List.of()), rng);
            LoraLinear lora = (LoraLinear) root.namedModules().get("fc");
            Tensor b = lora.loraB().value();
            for (long i = 0; i < b.numel(); i++) b.setFloat(i, (float) (rng.nextDouble() - 0.5)); // a trained adapter: B no longer 0
            Tensor x = random(arena, rng, 4, 7);
            float[] adapted = forward(lora, x);
            assertEquals(1, Lora.fold(root, CpuBackend.get()));
            assertTrue(root.namedModules().get("fc") == fc, "the base is back in its place");
            assertClose(adapted, forward(fc, x), 1e-5, "the folded base's output");
            Lora.inject(root, arena, new Lora.Config(2, 4f, 0f, false, java.util.List.of("fc"), java.util.List.of()), rng);
            assertClose(adapted, forward((LoraLinear) root.namedModules().get("fc"), x), 1e-5, "a new adapter starts at B = 0");
            assertEquals(0, Lora.fold(new Module() {}, CpuBackend.get()));
        }
    }
}
