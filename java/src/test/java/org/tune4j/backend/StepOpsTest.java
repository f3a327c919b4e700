package org.tune4j.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * The ops that keep a step's data where the backend computes instead of reading it back to the host
 * (Backend.crossEntropyLoss, clipGradNorm, gatherColumns, vitTokens, pgdStep, record), on the host backends, against what they
 * stand for written out here: the returned loss, torch.nn.utils.clip_grad_norm_, a column permutation, ViT tokens, a projected
 * signed-gradient step, the work run again. Bad arguments are refused by
 * name. (The op table, BackendOpsTest, holds every backend's to the reference.)
 */
class StepOpsTest {
    private static final Backend[] BACKENDS = {new ReferenceBackend(), CpuBackend.get()};

    @Test
    void crossEntropyLossIsTheReturnedLossStored() {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rng = new SplittableRandom(1);
            Tensor logits = TestTensors.random(arena, rng, 5, 7), labels = Tensor.zeros(arena, DType.I32, 5);
            for (int i = 0; i < 5; i++) labels.setInt(i, rng.nextInt(7));
            for (Backend b : BACKENDS) {
                Tensor probs = Tensor.zeros(arena, DType.F32, 5, 7), loss = Tensor.zeros(arena, DType.F32, 1);
                float expected = b.crossEntropyForward(logits, labels, 0.1f, Tensor.zeros(arena, DType.F32, 5, 7));
                b.crossEntropyLoss(logits, labels, 0.1f, probs, loss);
                assertEquals(expected, loss.getFloat(0), 0f, b.name());
                assertTrue(probs.getFloat(0, 0) > 0f, b.name() + ": probabilities written");
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                        () -> b.crossEntropyLoss(logits, labels, 0.1f, probs, Tensor.zeros(arena, DType.F32, 2)));
                assertTrue(e.getMessage().startsWith("loss must be one F32 value"), e.getMessage());
            }
        }
    }

    @Test
    void clipGradNormIsTorchsClipGradNorm() {
        for (Backend b : BACKENDS) {
            try (Arena arena = Arena.ofConfined()) {
                SplittableRandom rng = new SplittableRandom(2);
                Tensor g1 = TestTensors.random(arena, rng, 4, 6), g2 = TestTensors.random(arena, rng, 1, 3).reshape(3);
                float[] before1 = g1.toFloatArray(), before2 = g2.toFloatArray();
                double sq = 0;
                for (float v : before1) sq += (double) v * v;
                for (float v : before2) sq += (double) v * v;
                double norm = Math.sqrt(sq);
                Tensor out = Tensor.zeros(arena, DType.F32, 1);
                b.clipGradNorm(new Tensor[] {g1, g2}, (float) (norm * 2), out); // below the limit: untouched
                assertEquals((float) norm, out.getFloat(0), 1e-6 * norm, b.name() + ": the norm");
                assertTrue(java.util.Arrays.equals(before1, g1.toFloatArray()), b.name() + ": a norm below the limit leaves the gradients");
                b.clipGradNorm(new Tensor[] {g1, g2}, 0.5f, out);
                float factor = (float) (0.5 / (norm + 1e-6));
                for (int i = 0; i < before1.length; i++) assertEquals(before1[i] * factor, g1.getFloat(i / 6, i % 6), 1e-7, b.name() + ": g1[" + i + "]");
                for (int i = 0; i < before2.length; i++) assertEquals(before2[i] * factor, g2.getFloat(i), 1e-7, b.name() + ": g2[" + i + "]");
                assertEquals(0.5, Math.sqrt(b.sumSquares(g1) + b.sumSquares(g2)), 1e-5, b.name() + ": the norm after");
                assertThrows(IllegalArgumentException.class, () -> b.clipGradNorm(new Tensor[] {g1}, 0f, out), "maxNorm 0");
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> b.clipGradNorm(new Tensor[] {g1, null}, 1f, out));
                assertEquals("grads[1] is null", e.getMessage());
            }
        }
    }

    @Test
    void gatherColumnsPermutesEachRowAndRefusesAnIndexOutOfRange() {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rng = new SplittableRandom(3);
            Tensor big = TestTensors.random(arena, rng, 4, 9), x = big.view(1, 1, 3, 7); // a strided view
            Tensor index = Tensor.zeros(arena, DType.I32, 7);
            for (int j = 0; j < 7; j++) index.setInt(j, (3 * j + 2) % 7);
            for (Backend b : BACKENDS) {
                Tensor y = Tensor.zeros(arena, DType.F32, 3, 7);
                b.gatherColumns(x, index, y);
                for (int i = 0; i < 3; i++)
                    for (int j = 0; j < 7; j++) assertEquals(x.getFloat(i, index.getInt(j)), y.getFloat(i, j), 0f, b.name() + " y[" + i + ", " + j + "]");
                index.setInt(4, 7);
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> b.gatherColumns(x, index, y));
                assertEquals("index[4] = 7 is outside [0, 7)", e.getMessage());
                index.setInt(4, (3 * 4 + 2) % 7);
                e = assertThrows(IllegalArgumentException.class, () -> b.gatherColumns(x, index, Tensor.zeros(arena, DType.F32, 3, 6)));
                assertEquals("y must be 3x7, is 3x6", e.getMessage());
            }
        }
    }

    @Test
    void pgdStepMovesBySignAndStaysInTheBallAndInZeroOne() {
        try (Arena arena = Arena.ofConfined()) {
            float[] adv = {0.50f, 0.50f, 0.50f, 0.98f, 0.02f, 0.30f}, grad = {1f, -2f, 0f, 3f, -1f, Float.NaN}, orig = {0.50f, 0.50f, 0.50f, 0.98f, 0.02f, 0.30f};
            float[] expected = {0.55f, 0.45f, 0.50f, 1f, 0f, 0.30f}; // eps 0.1, step 0.05: up, down, still, clamped to 1 and to 0, NaN still
            for (Backend b : BACKENDS) {
                Tensor a = Tensor.of(arena, adv.clone(), 2, 3), g = Tensor.of(arena, grad, 2, 3), o = Tensor.of(arena, orig, 2, 3);
                b.pgdStep(a, g, o, 0.05f, 0.1f);
                for (int i = 0; i < 6; i++) assertEquals(expected[i], a.getFloat(i / 3, i % 3), 1e-7, b.name() + " adv[" + i + "]");
                b.pgdStep(a, g, o, 0.08f, 0.1f); // past the ball: back onto it
                assertEquals(0.60f, a.getFloat(0, 0), 1e-6, b.name() + ": orig + eps");
                assertEquals(0.40f, a.getFloat(0, 1), 1e-6, b.name() + ": orig - eps");
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> b.pgdStep(a, Tensor.zeros(arena, DType.F32, 5), o, 0.05f, 0.1f));
                assertEquals("grad holds 5 values, adv 6", e.getMessage());
                assertThrows(IllegalArgumentException.class, () -> b.pgdStep(a, g, o, -1f, 0.1f), "a negative step");
            }
        }
    }

    @Test
    void vitTokensAreTheClassTokenThenThePatchesPlusThePositions() {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rng = new SplittableRandom(4);
            int batch = 3, p = 4, d = 5;
            Tensor patches = TestTensors.random(arena, rng, batch * p, d), cls = TestTensors.random(arena, rng, 1, d), pos = TestTensors.random(arena, rng, p + 1, d);
            for (Backend b : BACKENDS) {
                Tensor y = Tensor.zeros(arena, DType.F32, batch * (p + 1), d);
                b.vitTokens(patches, cls, pos, batch, y);
                for (int s = 0; s < batch; s++)
                    for (int t = 0; t <= p; t++)
                        for (int j = 0; j < d; j++) {
                            float v = t == 0 ? cls.getFloat(0, j) : patches.getFloat(s * p + t - 1, j);
                            assertEquals(v + pos.getFloat(t, j), y.getFloat(s * (p + 1) + t, j), 0f, b.name() + " y[" + s + ", " + t + ", " + j + "]");
                        }
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> b.vitTokens(patches, cls, pos, 5, y));
                assertEquals("patches must be [batch·p, d] for batch 5, has shape [12, 5]", e.getMessage());
                e = assertThrows(IllegalArgumentException.class, () -> b.vitTokens(patches, cls, pos, batch, Tensor.zeros(arena, DType.F32, 14, d)));
                assertEquals("y must be 15x5, has shape [14, 5]", e.getMessage());
            }
        }
    }

    @Test
    void adamwOnAScheduleIsAdamwAtThatRateAndStep() {
        for (Backend b : BACKENDS) {
            try (Arena arena = Arena.ofConfined()) {
                SplittableRandom rng = new SplittableRandom(5);
                Tensor p = TestTensors.random(arena, rng, 3, 7), g = TestTensors.random(arena, rng, 3, 7), m = TestTensors.random(arena, rng, 3, 7), v = TestTensors.random(arena, rng, 3, 7);
                for (long i = 0; i < v.numel(); i++) v.setFloat(i / 7, i % 7, Math.abs(v.getFloat(i / 7, i % 7)));
                Tensor p2 = TestTensors.copy(arena, p), m2 = TestTensors.copy(arena, m), v2 = TestTensors.copy(arena, v);
                b.adamwStep(p, g, m, v, 3e-3f * 4f, 0.9f, 0.999f, 1e-8f, 0.01f, 5);
                b.adamwStep(p2, g, m2, v2, Tensor.of(arena, new float[] {3e-3f, 5f}, 2), 4f, 0.9f, 0.999f, 1e-8f, 0.01f);
                assertTrue(java.util.Arrays.equals(p.toFloatArray(), p2.toFloatArray()), b.name() + ": the same update, bit for bit");
                assertTrue(java.util.Arrays.equals(v.toFloatArray(), v2.toFloatArray()), b.name() + ": the same second moments");
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                        () -> b.adamwStep(p2, g, m2, v2, Tensor.of(arena, new float[] {3e-3f, 0.5f}, 2), 1f, 0.9f, 0.999f, 1e-8f, 0f));
                assertEquals("schedule's step must be a whole number in [1, 2^24), is 0.5", e.getMessage());
                e = assertThrows(IllegalArgumentException.class, () -> b.adamwStep(p2, g, m2, v2, Tensor.of(arena, new float[] {3e-3f}, 1), 1f, 0.9f, 0.999f, 1e-8f, 0f));
                assertTrue(e.getMessage().startsWith("schedule must be 2 contiguous F32 values"), e.getMessage());
            }
        }
    }

    @Test
    void aHostBackendRecordsNothingAndRunsTheWorkAgain() {
        for (Backend b : BACKENDS) {
            int[] runs = {0};
            try (Recording r = b.record(() -> runs[0]++)) {
                assertEquals(1, runs[0], b.name() + ": the work ran when recorded");
                r.run();
                r.run();
                assertEquals(3, runs[0], b.name() + ": and again on each run");
                assertFalse(r.recorded());
                assertNull(r.notRecorded(), "a host backend has no graph to fail");
            }
        }
    }
}
