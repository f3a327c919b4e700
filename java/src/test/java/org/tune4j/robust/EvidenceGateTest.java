package org.tune4j.robust;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The gate on evidence, by seeded simulation: a baseline whose examples have difficulties, and a candidate that is
 * "a copy retrained with another seed" (each example's outcome kept with probability 0.9, else drawn again from the
 * same difficulty). Equal models pass at least 95% of the time (A/A); a planted drop on one slice is caught.
 */
class EvidenceGateTest {
    private static final int SLICES = 10;

    /** Outcomes of n examples: [0] the baseline's, [1] the candidate's; slices of n / SLICES examples; a drop planted on slice 0. */
    static boolean[][] simulate(SplittableRandom rng, int n, double plantedDrop) {
        boolean[] base = new boolean[n], cand = new boolean[n];
        double[] p = new double[n];
        for (int i = 0; i < n; i++) {
            p[i] = Math.min(0.999, Math.max(0.2, 0.9 + 0.15 * rng.nextGaussian())); // accuracy about 0.88
            base[i] = rng.nextDouble() < p[i];
            cand[i] = rng.nextDouble() < 0.9 ? base[i] : rng.nextDouble() < p[i];
        }
        int slice = n / SLICES, toFlip = (int) Math.round(plantedDrop * slice);
        for (int i = 0; i < slice && toFlip > 0; i++) { // the first examples of slice 0 the candidate got right, now wrong
            if (cand[i]) {
                cand[i] = false;
                toFlip--;
            }
        }
        return new boolean[][] {base, cand};
    }

    static Map<String, int[]> slices(int n) {
        Map<String, int[]> s = new LinkedHashMap<>();
        int size = n / SLICES;
        for (int k = 0; k < SLICES; k++) {
            int[] idx = new int[size];
            for (int i = 0; i < size; i++) idx[i] = k * size + i;
            s.put("class " + k, idx);
        }
        return s;
    }

    /** The fraction of seeded trials the gate fails. */
    static double failRate(int n, double plantedDrop, int trials, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        int failed = 0;
        Map<String, int[]> s = slices(n);
        for (int t = 0; t < trials; t++) {
            boolean[][] o = simulate(rng, n, plantedDrop);
            if (!EvidenceGate.decide(o[0], o[1], s, EvidenceGate.Options.defaults()).passed()) failed++;
        }
        return (double) failed / trials;
    }

    @Test
    void equalModelsPassAtLeast95PercentOfTheTime() {
        for (int n : new int[] {470, 2000, 10000}) {
            double falseAlarms = failRate(n, 0, 400, n);
            assertTrue(falseAlarms <= 0.05, n + " examples: equal models failed " + falseAlarms + " of the time");
        }
    }

    @Test
    void aPlantedThreePointDropOnOneSliceIsCaught() {
        // a slice of 1,000 examples (10,000 in all): caught in at least 80% of the trials
        assertTrue(failRate(10000, 0.03, 200, 7) >= 0.8, "power on a slice of 1,000");
        // a 10-point drop on a slice of 200 (2,000 in all) too
        assertTrue(failRate(2000, 0.10, 200, 8) >= 0.8, "power on a slice of 200");
    }

    @Test
    void smallSlicesAreReportedNotDecidedAndTheVerdictNamesItsNumbers() {
        // the int8 'Shirt' case: 3 of 47 images of one class changed, nothing else
        int n = 470;
        boolean[] base = new boolean[n], cand = new boolean[n];
        java.util.Arrays.fill(base, true);
        java.util.Arrays.fill(cand, true);
        for (int i = 0; i < 3; i++) cand[i] = false;
        Map<String, int[]> s = new LinkedHashMap<>();
        for (int k = 0; k < 10; k++) {
            int[] idx = new int[47];
            for (int i = 0; i < 47; i++) idx[i] = k * 47 + i;
            s.put(k == 0 ? "Shirt" : "class " + k, idx);
        }
        EvidenceGate.Verdict v = EvidenceGate.decide(base, cand, s, EvidenceGate.Options.defaults());
        assertTrue(v.passed(), "3 changed images of 47 are not evidence: " + v.reasons());
        assertFalse(v.slices().getFirst().decided());
        assertEquals("slice 'Shirt': 47 examples, 3 now wrong that were right, 0 the reverse, accuracy down 6.38 points; too few examples to decide",
                v.slices().getFirst().describe());
        assertEquals(0.125, v.overall().p(), 1e-12, "P(3 of 3 discordant | fair) = 1/8");

        // the same 6% drop on a slice of 1,000 fails, and says why
        n = 10000;
        base = new boolean[n];
        cand = new boolean[n];
        java.util.Arrays.fill(base, true);
        java.util.Arrays.fill(cand, true);
        for (int i = 0; i < 60; i++) cand[i] = false;
        v = EvidenceGate.decide(base, cand, slices(n), EvidenceGate.Options.defaults());
        assertEquals(1, v.reasons().size(), v.reasons().toString());
        assertTrue(v.reasons().getFirst().startsWith("slice 'class 0': 1000 examples, 60 now wrong that were right, 0 the reverse, accuracy down 6.00 points, exact McNemar p = 8.67e-19"),
                v.reasons().getFirst());
    }

    @Test
    void holmAdjustsInOrderAndBadInputIsRefused() {
        double[] adjusted = EvidenceGate.holm(new double[] {0.01, 0.04, 0.03, 0.5}, List.of(0, 1, 2));
        assertEquals(0.03, adjusted[0], 1e-12); // 3 x 0.01
        assertEquals(0.06, adjusted[2], 1e-12); // 2 x 0.03
        assertEquals(0.06, adjusted[1], 1e-12); // max(1 x 0.04, 0.06)
        assertEquals(0.5, adjusted[3], 1e-12);  // not in the family
        assertThrows(IllegalArgumentException.class, () -> EvidenceGate.decide(new boolean[3], new boolean[2], Map.of(), EvidenceGate.Options.defaults()));
        assertThrows(IllegalArgumentException.class, () -> EvidenceGate.decide(new boolean[3], new boolean[3], Map.of("s", new int[] {5}), EvidenceGate.Options.defaults()));
        assertThrows(IllegalArgumentException.class, () -> new EvidenceGate.Options(0, 0.01, 0.02, 100));
    }
}
