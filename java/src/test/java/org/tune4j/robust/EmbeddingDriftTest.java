package org.tune4j.robust;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class EmbeddingDriftTest {
    /** n vectors of d Gaussian values around {@code shift} in every coordinate. */
    static float[][] gaussian(SplittableRandom rng, int n, int d, double shift) {
        float[][] v = new float[n][d];
        for (float[] row : v) for (int j = 0; j < d; j++) row[j] = (float) (shift + gauss(rng));
        return v;
    }

    static double gauss(SplittableRandom rng) {
        return Math.sqrt(-2 * Math.log(1 - rng.nextDouble())) * Math.cos(2 * Math.PI * rng.nextDouble());
    }

    /** Two-class probabilities: class 1 with probability {@code spamShare}, confidence uniform in [0.6, 1). */
    static float[][] probabilities(SplittableRandom rng, int n, double spamShare) {
        float[][] p = new float[n][2];
        for (float[] row : p) {
            float c = (float) (0.6 + 0.4 * rng.nextDouble());
            boolean spam = rng.nextDouble() < spamShare;
            row[spam ? 1 : 0] = c;
            row[spam ? 0 : 1] = 1 - c;
        }
        return p;
    }

    @Test
    void batchesFromTheReferenceDistributionRarelyAlertAndShiftedOnesDo() {
        SplittableRandom rng = new SplittableRandom(3);
        EmbeddingDrift d = new EmbeddingDrift(gaussian(rng, 300, 16, 0), probabilities(rng, 300, 0.2), new EmbeddingDrift.Options(0.01, 0.001, 5000, 1));
        int alerts = 0;
        for (int b = 0; b < 20; b++) if (d.observe(gaussian(rng, 100, 16, 0), probabilities(rng, 100, 0.2)).level() == EmbeddingDrift.Level.ALERT) alerts++;
        assertTrue(alerts <= 1, alerts + " false alarms of 20");
        EmbeddingDrift.Report moved = d.observe(gaussian(rng, 100, 16, 0.5), probabilities(rng, 100, 0.2));
        assertEquals(EmbeddingDrift.Level.ALERT, moved.level(), "vectors moved by half a standard deviation: " + moved);
        assertTrue(moved.embeddingP() < 0.01, moved.toString());
        EmbeddingDrift.Report mix = d.observe(gaussian(rng, 100, 16, 0), probabilities(rng, 100, 0.6));
        assertEquals(EmbeddingDrift.Level.ALERT, mix.level(), "predicted spam share 0.2 -> 0.6: " + mix);
        assertTrue(mix.labelMixP() < 1e-6 && mix.embeddingP() > 0.001, mix.toString());
        assertEquals(22, mix.batch() + 1);
    }

    @Test
    void permutationPValuesAreRoughlyUniformUnderTheNull() {
        SplittableRandom rng = new SplittableRandom(5);
        int below = 0, tests = 200;
        for (int i = 0; i < tests; i++) {
            float[][] x = gaussian(rng, 30, 4, 0), y = gaussian(rng, 30, 4, 0);
            double p = EmbeddingDrift.mmdPermutationTest(x, y, 1 / EmbeddingDrift.medianSquaredDistance(x), 200, rng.split())[1];
            if (p < 0.1) below++;
        }
        assertTrue(below >= 8 && below <= 35, below + " of " + tests + " null p-values below 0.1 (expected about 20)");
    }

    @Test
    void theBinomialTestMatchesAHandComputedCase() {
        // Binomial(10, 0.5): P(X <= 1) + P(X >= 9) = 2 * 11 / 1024
        assertEquals(22.0 / 1024, EmbeddingDrift.binomialTwoSided(1, 10, 0.5), 1e-12);
        assertEquals(1.0, EmbeddingDrift.binomialTwoSided(5, 10, 0.5), 1e-12);
    }

    @Test
    void badInputIsNamed() {
        SplittableRandom rng = new SplittableRandom(1);
        float[][] ref = gaussian(rng, 20, 4, 0);
        float[][] probs = probabilities(rng, 20, 0.5);
        EmbeddingDrift d = new EmbeddingDrift(ref, probs, EmbeddingDrift.Options.defaults());
        assertTrue(assertThrows(IllegalArgumentException.class, () -> d.observe(gaussian(rng, 5, 3, 0), probabilities(rng, 5, 0.5))).getMessage().contains("3 values"));
        float[][] nan = gaussian(rng, 5, 4, 0);
        nan[2][1] = Float.NaN;
        assertTrue(assertThrows(IllegalArgumentException.class, () -> d.observe(nan, probabilities(rng, 5, 0.5))).getMessage().contains("row 2"));
        assertThrows(IllegalArgumentException.class, () -> new EmbeddingDrift(new float[5][4], new float[5][2], EmbeddingDrift.Options.defaults()));
        float[][] same = new float[20][4];
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new EmbeddingDrift(same, probs, EmbeddingDrift.Options.defaults())).getMessage().contains("all equal"));
        assertThrows(IllegalArgumentException.class, () -> new EmbeddingDrift.Options(0.001, 0.01, 10, 1));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new EmbeddingDrift.Options(0.01, 0.001, 2000, 1)).getMessage().contains("at least 3000"));
    }
}
