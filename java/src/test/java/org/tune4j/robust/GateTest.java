package org.tune4j.robust;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.tune4j.backend.CpuBackend;
import org.tune4j.data.FashionMnist;
import org.tune4j.data.ImageDataset;
import org.tune4j.io.ModelFile;
import org.tune4j.nn.VisionTransformer;

/** The gate passes a model against itself and names what a damaged copy breaks. */
class GateTest {
    @Test
    void sameModelPassesDamagedModelFails() throws IOException {
        int[] first = new int[100];
        Arrays.setAll(first, i -> i);
        ImageDataset data = FashionMnist.embedded().test().subset(first);
        try (Arena arena = Arena.ofShared()) {
            VisionTransformer base = ModelFile.load(arena, null), damaged = ModelFile.load(arena, null);
            var headW = damaged.namedParameters().get("head.weight").value();
            for (long i = 0; i < headW.numel() / 3; i++) headW.setFloat(i, 0f); // the first classes lose their weights
            Attacks.Pgd pgd = Attacks.Pgd.standard(0.03f, 3);
            Gate.Result same = Gate.compare(CpuBackend.get(), base, base, data, Gate.Limits.defaults(), pgd, 1);
            assertTrue(same.passed(), same.violations().toString());
            assertEquals(0.0, same.flipRate());
            assertEquals(1.0, same.mce(), 1e-12);
            Gate.Result bad = Gate.compare(CpuBackend.get(), base, damaged, data, Gate.Limits.defaults(), pgd, 1);
            assertFalse(bad.passed());
            assertTrue(bad.violations().stream().anyMatch(v -> v.startsWith("accuracy dropped")), bad.violations().toString());
            assertTrue(bad.violations().stream().anyMatch(v -> v.startsWith("negative flip rate")), bad.violations().toString());
            assertTrue(bad.flipRate() > 0.05);
        }
    }

    /** A drop of exactly the limit passes: 1 image of 100 against 0.01 (in floating point 0.01000...02). */
    @Test
    void aDropOfExactlyTheLimitPasses() throws IOException {
        ImageDataset data = FashionMnist.embedded().test().first(100);
        float[][] right = new float[100][10], oneWrong = new float[100][10];
        for (int i = 0; i < 100; i++) {
            right[i][data.label(i)] = 1f;
            oneWrong[i][i == 0 ? (data.label(0) + 1) % 10 : data.label(i)] = 1f;
        }
        java.util.Map<Corruptions.Kind, double[]> errors = new java.util.EnumMap<>(Corruptions.Kind.class);
        for (Corruptions.Kind k : Corruptions.ALL) errors.put(k, new double[] {0.1, 0.2, 0.3, 0.4, 0.5});
        CorruptionReport.Errors ce = new CorruptionReport.Errors(errors);
        Gate.Limits limits = new Gate.Limits(0.01, Double.POSITIVE_INFINITY, 0.01, Double.POSITIVE_INFINITY, Double.POSITIVE_INFINITY, Double.POSITIVE_INFINITY);
        Gate.Result atLimit = Gate.compare(new Gate.Measures(right, ce, 0.5), new Gate.Measures(oneWrong, ce, 0.5), data, limits);
        assertTrue(atLimit.passed(), atLimit.violations().toString());
    }

    /**
     * Accuracy is decided on evidence: 3 of 100 images wrong (3 points, three times the limit) is a McNemar p of 1/8 and
     * passes, naming its numbers; 10 of 100 (p = 2^-10) fails. Classes of 10 images are reported, never decided.
     */
    @Test
    void accuracyFailsOnlyOnEvidence() throws IOException {
        ImageDataset data = FashionMnist.embedded().test().first(100);
        java.util.Map<Corruptions.Kind, double[]> errors = new java.util.EnumMap<>(Corruptions.Kind.class);
        for (Corruptions.Kind k : Corruptions.ALL) errors.put(k, new double[] {0.1, 0.2, 0.3, 0.4, 0.5});
        CorruptionReport.Errors ce = new CorruptionReport.Errors(errors);
        Gate.Limits limits = new Gate.Limits(0.01, 0.05, Double.POSITIVE_INFINITY, Double.POSITIVE_INFINITY, Double.POSITIVE_INFINITY, Double.POSITIVE_INFINITY);
        float[][] right = new float[100][10];
        for (int i = 0; i < 100; i++) right[i][data.label(i)] = 1f;
        for (int wrong : new int[] {3, 10}) {
            float[][] cand = new float[100][10];
            for (int i = 0; i < 100; i++) cand[i][i < wrong ? (data.label(i) + 1) % 10 : data.label(i)] = 1f;
            Gate.Result r = Gate.compare(new Gate.Measures(right, ce, 0.5), new Gate.Measures(cand, ce, 0.5), data, limits);
            assertEquals(wrong == 10, !r.passed(), wrong + " wrong: " + r.violations());
            assertEquals(wrong, r.evidence().overall().worse());
            assertTrue(r.evidence().slices().stream().noneMatch(EvidenceGate.Test::decided), "classes of about 10 images are too small to decide");
            if (wrong == 10) assertTrue(r.violations().get(0).startsWith("accuracy dropped by 0.1000") && r.violations().get(0).contains("exact McNemar p = 0.000977"), r.violations().toString());
        }
    }
}
