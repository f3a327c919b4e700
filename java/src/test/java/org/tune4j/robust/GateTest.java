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
import org.tune4j.nn.VisionTransformer;
import org.tune4j.train.Adaptation;

/** The gate passes a model against itself and names what a damaged copy breaks. */
class GateTest {
    @Test
    void sameModelPassesDamagedModelFails() throws IOException {
        int[] first = new int[100];
        Arrays.setAll(first, i -> i);
        ImageDataset data = FashionMnist.embedded().test().subset(first);
        try (Arena arena = Arena.ofShared()) {
            VisionTransformer base = Adaptation.load(arena, null), damaged = Adaptation.load(arena, null);
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
}
