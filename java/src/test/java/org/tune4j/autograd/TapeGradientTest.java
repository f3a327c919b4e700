package org.tune4j.autograd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.lang.foreign.Arena;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.tune4j.backend.Backend;
import org.tune4j.backend.CpuBackend;
import org.tune4j.backend.ReferenceBackend;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;
import org.tune4j.testing.FiniteDifferences;

/**
 * Every tape op, composed as a tiny transformer classifier, against central finite differences of the
 * loss in the reference backend: the gradient of every parameter and of the input.
 */
class TapeGradientTest {
    private static final int BATCH = 2, PATCHES = 3, PATCH = 4, D = 4, HEADS = 2, CLASSES = 3, R = 2;
    /** Where each pixel of an image [PATCHES·PATCH] goes in its patch matrix: a fixed shuffle, not its own inverse. */
    private static final long[] PIXEL_TO_PATCH = new long[PATCHES * PATCH];

    static {
        for (int j = 0; j < PIXEL_TO_PATCH.length; j++) PIXEL_TO_PATCH[j] = (5L * j + 3) % PIXEL_TO_PATCH.length;
    }

    private final Map<String, Parameter> params = new LinkedHashMap<>();

    private Parameter param(Arena arena, SplittableRandom rng, String name, long... shape) {
        Parameter p = new Parameter(arena, shape);
        for (long i = 0; i < p.numel(); i++) p.value().setFloat(i, (float) (rng.nextDouble() - 0.5));
        params.put(name, p);
        return p;
    }

    /** The loss of the model on x, recording when {@code tape} records. */
    private Var loss(Tape t, Tensor x, Tensor labels, boolean inputGrad, Var[] inputOut) {
        Var in = t.input(x, inputGrad);
        inputOut[0] = in;
        Var patches = VisionOps.permuteRows(t, in, new ColumnPermutation(PIXEL_TO_PATCH), PATCHES, PATCH);
        Var pe = t.linear(patches, t.param(params.get("embed.w")), t.param(params.get("embed.b")));
        Var tok = VisionOps.tokens(t, pe, t.param(params.get("cls")), t.param(params.get("pos")), BATCH);
        Var h = t.layerNorm(tok, t.param(params.get("ln.g")), t.param(params.get("ln.b")), 1e-5f);
        Var qkv = t.lora(h, t.param(params.get("qkv.w")), t.param(params.get("qkv.b")), t.param(params.get("qkv.A")),
                t.param(params.get("qkv.B")), 0.5f, null);
        Var att = VisionOps.attention(t, qkv, BATCH, HEADS);
        Var res = t.add(tok, t.gelu(t.linear(att, t.param(params.get("proj.w")), null)));
        Var cls = t.everyNthRow(res, PATCHES + 1, 0);
        Var logits = t.linear(cls, t.param(params.get("head.w")), t.param(params.get("head.b")));
        return t.crossEntropy(logits, labels, 0.1f);
    }

    @Test
    void everyOpMatchesFiniteDifferences() {
        Backend ref = new ReferenceBackend();
        SplittableRandom rng = new SplittableRandom(11);
        try (Arena arena = Arena.ofConfined()) {
            param(arena, rng, "embed.w", D, PATCH);
            param(arena, rng, "embed.b", D);
            param(arena, rng, "cls", 1, D);
            param(arena, rng, "pos", PATCHES + 1, D);
            param(arena, rng, "ln.g", D);
            param(arena, rng, "ln.b", D);
            param(arena, rng, "qkv.w", 3 * D, D).setTrainable(false); // frozen under LoRA
            param(arena, rng, "qkv.b", 3 * D);
            param(arena, rng, "qkv.A", R, D);
            param(arena, rng, "qkv.B", 3 * D, R);
            param(arena, rng, "proj.w", D, D);
            param(arena, rng, "head.w", CLASSES, D);
            param(arena, rng, "head.b", CLASSES);
            Tensor x = Tensor.zeros(arena, DType.F32, BATCH, PATCHES * PATCH); // images, patched by permuteRows
            for (long i = 0; i < x.numel(); i++) x.setFloat(i, (float) rng.nextDouble());
            Tensor labels = Tensor.zeros(arena, DType.I32, BATCH);
            labels.setInt(0, 2);
            labels.setInt(1, 0);

            Var[] input = new Var[1];
            Map<String, float[]> analytic = new LinkedHashMap<>();
            float[] dx;
            try (Tape t = new Tape(ref, true)) {
                t.backward(loss(t, x, labels, true, input));
                dx = input[0].grad().toFloatArray();
                params.forEach((name, p) -> analytic.put(name, p.grad().toFloatArray()));
            }
            assertEquals(0f, max(analytic.get("qkv.w")), "a frozen parameter gets no gradient");
            for (Map.Entry<String, Parameter> e : params.entrySet()) {
                if (!e.getValue().trainable()) continue;
                checkAgainstNumeric(ref, e.getKey(), e.getValue().value(), analytic.get(e.getKey()), x, labels);
            }
            checkAgainstNumeric(ref, "input", x, dx, x, labels);
        }
    }

    private static float max(float[] v) {
        float m = 0;
        for (float f : v) m = Math.max(m, Math.abs(f));
        return m;
    }

    private void checkAgainstNumeric(Backend ref, String name, Tensor theta, float[] analytic, Tensor x, Tensor labels) {
        double[] numeric = FiniteDifferences.gradient(theta, () -> evaluate(ref, x, labels), 1e-3);
        for (int i = 0; i < numeric.length; i++) assertEquals(numeric[i], analytic[i], 2e-3 * (1 + Math.abs(numeric[i])), name + "[" + i + "]");
    }

    private double evaluate(Backend ref, Tensor x, Tensor labels) {
        try (Tape t = new Tape(ref, false)) {
            return loss(t, x, labels, false, new Var[1]).value().getFloat(0);
        }
    }

    @Test
    void noGradModeRecordsNothing() {
        try (Arena arena = Arena.ofConfined(); Tape t = new Tape(CpuBackend.get(), false)) {
            Parameter w = new Parameter(arena, 2, 3);
            Var y = t.linear(t.input(Tensor.zeros(arena, DType.F32, 1, 3), true), t.param(w), null);
            assertNull(y.grad());
            assertThrows(IllegalStateException.class, () -> t.backward(y));
        }
    }

    @Test
    void gradientsAccumulateUntilZeroed() {
        try (Arena arena = Arena.ofConfined()) {
            Parameter w = new Parameter(arena, 3, 2);
            for (long i = 0; i < 6; i++) w.value().setFloat(i, 0.1f * i);
            Tensor x = Tensor.of(arena, new float[] {2f, 3f, -1f, 0.5f}, 2, 2), labels = Tensor.zeros(arena, DType.I32, 2);
            labels.setInt(1, 2);
            float[][] after = new float[2][];
            for (int step = 0; step < 2; step++) {
                try (Tape t = new Tape(CpuBackend.get(), true)) {
                    t.backward(t.crossEntropy(t.linear(t.input(x, false), t.param(w), null), labels, 0f));
                }
                after[step] = w.grad().toFloatArray();
            }
            for (int i = 0; i < 6; i++) assertEquals(2 * after[0][i], after[1][i], 1e-6, "two backward passes add up");
            w.zeroGrad();
            assertEquals(0f, max(w.grad().toFloatArray()));
        }
    }

    /** An add's operands take its output's gradient shared ({@link Tape#accumulateGrad}); one that gets more copies it first, so no value's gradient is written under another. */
    @Test
    void anAddsOperandsShareItsGradientUntilMoreComes() {
        for (Backend backend : new Backend[] {new ReferenceBackend(), CpuBackend.get()}) {
            try (Arena arena = Arena.ofConfined(); Tape t = new Tape(backend, true)) {
                Tensor labels = Tensor.zeros(arena, DType.I32, 1);
                Var a = t.input(Tensor.of(arena, new float[] {1f, 2f, -0.5f}, 1, 3), true), b = t.input(Tensor.of(arena, new float[] {3f, -1f, 0.25f}, 1, 3), true);
                Var s = t.add(a, b);
                Var u = t.add(s, b); // b twice: its gradient is u's, shared, then s's added into a copy of its own
                t.backward(t.crossEntropy(u, labels, 0f));
                float[] logits = u.value().toFloatArray(), expected = new float[3];
                double z = 0;
                for (float l : logits) z += Math.exp(l);
                for (int j = 0; j < 3; j++) expected[j] = (float) (Math.exp(logits[j]) / z) - (j == 0 ? 1f : 0f); // softmax - one-hot
                float[] du = u.grad().toFloatArray(), ds = s.grad().toFloatArray(), da = a.grad().toFloatArray(), db = b.grad().toFloatArray();
                for (int j = 0; j < 3; j++) {
                    assertEquals(expected[j], du[j], 1e-6, backend.name() + ": u's gradient, unchanged by what its operands got later");
                    assertEquals(du[j], ds[j], 0f, backend.name() + ": s takes u's");
                    assertEquals(du[j], da[j], 0f, backend.name() + ": a takes s's");
                    assertEquals(2 * du[j], db[j], 1e-6, backend.name() + ": b adds both");
                }
            }
        }
    }
}
