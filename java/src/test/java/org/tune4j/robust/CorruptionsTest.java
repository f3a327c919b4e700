package org.tune4j.robust;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.tune4j.backend.CpuBackend;
import org.tune4j.data.FashionMnist;
import org.tune4j.data.ImageDataset;
import org.tune4j.io.ModelFile;
import org.tune4j.nn.VisionTransformer;

/** Every corruption is seeded and grows with severity; the pretrained ViT's error grows with it too. */
class CorruptionsTest {
    private static ImageDataset first(int n) throws IOException {
        int[] idx = new int[n];
        Arrays.setAll(idx, i -> i);
        return FashionMnist.embedded().test().subset(idx);
    }

    private static double distance(ImageDataset a, ImageDataset b) {
        double d = 0;
        for (int i = 0; i < a.size(); i++) for (int p = 0; p < 784; p++) d += Math.abs(a.pixel(i, p) - b.pixel(i, p));
        return d / a.size() / 784;
    }

    @Test
    void corruptionsAreSeededAndGrowWithSeverity() throws IOException {
        ImageDataset data = first(20);
        for (Corruptions.Kind k : Corruptions.ALL) {
            ImageDataset s1 = Corruptions.apply(data, k, 1, 3), s1again = Corruptions.apply(data, k, 1, 3), s5 = Corruptions.apply(data, k, 5, 3);
            assertEquals(0.0, distance(s1, s1again), k + " is seeded");
            assertTrue(distance(s1, data) > 0, k + " changes the images");
            assertTrue(distance(s5, data) > distance(s1, data), k + ": severity 5 changes more than 1");
            assertEquals(data.label(7), s5.label(7));
        }
        assertThrows(IllegalArgumentException.class, () -> Corruptions.apply(data, Corruptions.Kind.ZOOM, 6, 1));
    }

    @Test
    void theModelsErrorGrowsWithSeverityAndItsMceAgainstItselfIsOne() throws IOException {
        ImageDataset data = first(200);
        try (Arena arena = Arena.ofShared()) {
            VisionTransformer vit = ModelFile.load(arena, null);
            CorruptionReport.Errors e = CorruptionReport.errors(CpuBackend.get(), vit, data, 1);
            double low = 0, high = 0;
            for (double[] v : e.error().values()) {
                low += v[0];
                high += v[4];
            }
            assertTrue(high > low + 1, "severity 5 errs more in all than severity 1: " + high + " vs " + low);
            Map<String, Double> ce = CorruptionReport.relative(e, e);
            assertEquals(1.0, ce.get("mCE"), 1e-12);
        }
    }

    /** CE_c = Σ_s E_model / Σ_s E_base, mCE their mean (Hendrycks and Dietterich 2019), on numbers worked out by hand. */
    @Test
    void mceIsTheMeanOfTheRatiosOfSummedErrors() {
        Map<Corruptions.Kind, double[]> base = new java.util.EnumMap<>(Corruptions.Kind.class), model = new java.util.EnumMap<>(Corruptions.Kind.class);
        for (Corruptions.Kind k : Corruptions.ALL) {
            base.put(k, new double[] {0.1, 0.1, 0.1, 0.1, 0.1}); // sums to 0.5
            model.put(k, new double[] {0.1, 0.1, 0.1, 0.1, 0.1});
        }
        Corruptions.Kind first = Corruptions.ALL.get(0), second = Corruptions.ALL.get(1);
        model.put(first, new double[] {0.2, 0.2, 0.2, 0.2, 0.2});   // CE 1.0 / 0.5 = 2
        model.put(second, new double[] {0.0, 0.05, 0.05, 0.05, 0.1}); // CE 0.25 / 0.5 = 0.5
        Map<String, Double> ce = CorruptionReport.relative(new CorruptionReport.Errors(model), new CorruptionReport.Errors(base));
        int n = Corruptions.ALL.size();
        assertEquals(2.0, ce.get(first.label()), 1e-12);
        assertEquals(0.5, ce.get(second.label()), 1e-12);
        assertEquals((2.0 + 0.5 + (n - 2)) / n, ce.get("mCE"), 1e-12);
    }
}
