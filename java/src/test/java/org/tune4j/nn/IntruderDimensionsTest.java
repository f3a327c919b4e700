package org.tune4j.nn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.tune4j.backend.CpuBackend;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/** Intruder dimensions: a large new direction outside the pretrained weight's left singular vectors is one; a small dense change is none. */
class IntruderDimensionsTest {
    private static final int OUT = 29, IN = 13; // odd, and out > in so a left direction can miss the pretrained column space

    private static Tensor random(Arena arena, SplittableRandom rng) {
        Tensor t = Tensor.zeros(arena, DType.F32, OUT, IN);
        for (long i = 0; i < t.numel(); i++) t.setFloat(i, (float) (rng.nextDouble() - 0.5));
        return t;
    }

    /** W + sigma u vᵀ [out, in] (out > in) with u a unit vector orthogonal to W's columns and v a random unit vector. */
    private static Tensor plusNewDirection(Arena arena, Tensor w, double sigma, SplittableRandom rng) {
        Tensor t = w.copy(arena);
        addNewDirection(t, sigma, rng);
        return t;
    }

    private static void addNewDirection(Tensor w, double sigma, SplittableRandom rng) {
        int rows = (int) w.dim(0), cols = (int) w.dim(1);
        double[] u = new double[rows], v = new double[cols];
        for (int i = 0; i < rows; i++) u[i] = rng.nextDouble() - 0.5;
        for (int pass = 0; pass < 2; pass++) { // Gram-Schmidt of u against an orthonormal basis of W's columns, built as we go
            double[][] basis = new double[cols][rows];
            for (int c = 0; c < cols; c++) {
                for (int i = 0; i < rows; i++) basis[c][i] = w.getFloat(i, c);
                for (int p = 0; p < c; p++) subtractProjection(basis[c], basis[p]);
                normalize(basis[c]);
                subtractProjection(u, basis[c]);
            }
        }
        normalize(u);
        for (int j = 0; j < cols; j++) v[j] = rng.nextDouble() - 0.5;
        normalize(v);
        for (int i = 0; i < rows; i++) for (int j = 0; j < cols; j++) w.setFloat(i, j, (float) (w.getFloat(i, j) + sigma * u[i] * v[j]));
    }

    private static void subtractProjection(double[] x, double[] unit) {
        double d = 0;
        for (int i = 0; i < x.length; i++) d += x[i] * unit[i];
        for (int i = 0; i < x.length; i++) x[i] -= d * unit[i];
    }

    private static void normalize(double[] x) {
        double n = 0;
        for (double e : x) n += e * e;
        for (int i = 0; i < x.length; i++) x[i] /= Math.sqrt(n);
    }

    private static double distance(Tensor a, Tensor b) {
        double d = 0;
        for (long i = 0; i < a.numel(); i++) d += Math.pow(a.getFloat(i) - b.getFloat(i), 2);
        return Math.sqrt(d);
    }

    @Test
    void aLargeNewDirectionIsAnIntruderAndADenseNudgeIsNot() {
        SplittableRandom rng = new SplittableRandom(5);
        try (Arena arena = Arena.ofConfined()) {
            Tensor w = random(arena, rng);
            assertEquals(1, IntruderDimensions.count(w, plusNewDirection(arena, w, 20, rng), 5, 0.5));
            Tensor nudged = w.copy(arena);
            for (long i = 0; i < nudged.numel(); i++) nudged.setFloat(i, nudged.getFloat(i) + (float) (0.01 * (rng.nextDouble() - 0.5)));
            assertEquals(0, IntruderDimensions.count(w, nudged, IN, 0.5));
            assertEquals(0, IntruderDimensions.count(w, w, IN, 0.5), "the pretrained weight against itself");
        }
    }

    @Test
    void shrinkingScalesTheIntruderOnly() {
        SplittableRandom rng = new SplittableRandom(6);
        try (Arena arena = Arena.ofConfined()) {
            Tensor w = random(arena, rng);
            Tensor tuned = plusNewDirection(arena, w, 20, rng);
            double added = distance(tuned, w); // 20
            Tensor kept = tuned.copy(arena);
            assertEquals(1, IntruderDimensions.shrink(w, kept, 5, 0.5, 1));
            assertEquals(0, distance(kept, tuned), 0, "lambda 1 leaves the weight as it was");
            Tensor halved = tuned.copy(arena);
            IntruderDimensions.shrink(w, halved, 5, 0.5, 0.5);
            assertEquals(added / 2, distance(halved, tuned), 0.05 * added, "lambda 0.5 takes half the new direction away");
            Tensor removed = tuned.copy(arena);
            IntruderDimensions.shrink(w, removed, 5, 0.5, 0);
            // the top triplet of W + 20 u vᵀ also carries W's own action on v (‖W v‖ ≈ 1.3 here), which goes with it
            assertTrue(distance(removed, w) < 0.1 * added, "lambda 0 leaves about the pretrained weight: " + distance(removed, w));
            assertEquals(0, IntruderDimensions.count(w, removed, 5, 0.5));
        }
    }

    @Test
    void comparesTwoModelsLayerByLayer() {
        var config = new VisionTransformer.Config(8, 4, 16, 2, 2, 24, 3); // fc1 [24, 16] and fc2 [16, 24] in each of 2 blocks
        List<String> mlp = List.of("fc1", "fc2");
        try (Arena arena = Arena.ofConfined()) {
            VisionTransformer pretrained = new VisionTransformer(arena, config, new SplittableRandom(11));
            VisionTransformer adapted = new VisionTransformer(arena, config, new SplittableRandom(11));
            Map<String, LoraLinear> adapters = Lora.inject(adapted, arena, new Lora.Config(2, 4f, 0f, false, mlp, List.of()), new SplittableRandom(1));
            var unmerged = assertThrows(IllegalStateException.class, () -> IntruderDimensions.count(pretrained, adapted, mlp));
            assertTrue(unmerged.getMessage().contains("merge"), unmerged.getMessage());
            adapters.values().forEach(a -> a.merge(CpuBackend.get())); // B = 0: every weight as pretrained
            List<IntruderDimensions.WeightPair> pairs = IntruderDimensions.weightPairs(pretrained, adapted, mlp);
            assertEquals(List.of("blocks.0.mlp.fc1", "blocks.0.mlp.fc2", "blocks.1.mlp.fc1", "blocks.1.mlp.fc2"),
                    pairs.stream().map(IntruderDimensions.WeightPair::path).toList());
            assertEquals(0, IntruderDimensions.count(pretrained, adapted, mlp));
            addNewDirection(pairs.get(2).adapted(), 20, new SplittableRandom(3)); // blocks.1.mlp.fc1
            assertEquals(1, IntruderDimensions.count(pretrained, adapted, mlp));
            VisionTransformer shallow = new VisionTransformer(arena, new VisionTransformer.Config(8, 4, 16, 1, 2, 24, 3), new SplittableRandom(11));
            var missing = assertThrows(IllegalArgumentException.class, () -> IntruderDimensions.count(pretrained, shallow, mlp));
            assertTrue(missing.getMessage().contains("no layer blocks.1.mlp.fc1"), missing.getMessage());
        }
    }

    @Test
    void badArgumentsAreRefused() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor w = random(arena, new SplittableRandom(7));
            Tensor other = Tensor.zeros(arena, DType.F32, IN, OUT);
            var shape = assertThrows(IllegalArgumentException.class, () -> IntruderDimensions.count(w, other, 3, 0.5));
            assertTrue(shape.getMessage().contains("same [out, in]"), shape.getMessage());
            assertThrows(IllegalArgumentException.class, () -> IntruderDimensions.count(w, w, IN + 1, 0.5));
            assertThrows(IllegalArgumentException.class, () -> IntruderDimensions.count(w, w, 3, 0));
            assertThrows(IllegalArgumentException.class, () -> IntruderDimensions.count(w, w, 3, Double.NaN));
            assertThrows(IllegalArgumentException.class, () -> IntruderDimensions.shrink(w, w.copy(arena), 3, 0.5, 1.5));
        }
    }
}
