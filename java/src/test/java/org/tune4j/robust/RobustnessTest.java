package org.tune4j.robust;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.tune4j.backend.CpuBackend;
import org.tune4j.data.FashionMnist;
import org.tune4j.data.ImageDataset;
import org.tune4j.eval.Evaluate;
import org.tune4j.io.ModelFile;
import org.tune4j.nn.VisionTransformer;

/** Attacks on the shipped ViT get stronger with ε and steps; calibration and drift statistics behave. */
class RobustnessTest {
    @Test
    void pgdOnThePretrainedVitWeakensItAsEpsilonAndStepsGrow() throws IOException {
        int[] first = new int[120];
        Arrays.setAll(first, i -> i);
        ImageDataset test = FashionMnist.embedded().test().subset(first);
        try (Arena arena = Arena.ofShared()) {
            VisionTransformer vit = ModelFile.load(arena, null);
            double clean = Evaluate.accuracy(CpuBackend.get(), vit, test, 60);
            double fgsm = Attacks.robustAccuracy(CpuBackend.get(), vit, test, Attacks.Pgd.fgsm(0.05f), 60, 1);
            double pgd5 = Attacks.robustAccuracy(CpuBackend.get(), vit, test, Attacks.Pgd.standard(0.05f, 5), 60, 1);
            double pgd10 = Attacks.robustAccuracy(CpuBackend.get(), vit, test, Attacks.Pgd.standard(0.05f, 10), 60, 1);
            double pgdBig = Attacks.robustAccuracy(CpuBackend.get(), vit, test, Attacks.Pgd.standard(0.3f, 10), 60, 1);
            assertTrue(clean > 0.8, "clean " + clean);
            assertTrue(fgsm < clean, "FGSM hurts: " + fgsm + " < " + clean);
            assertTrue(pgd10 <= fgsm + 0.02, "PGD is at least as strong as FGSM: " + pgd10 + " vs " + fgsm);
            assertTrue(pgdBig < 0.05, "a large epsilon breaks an undefended model: " + pgdBig);
            List<AttackSanity.Point> points = List.of(new AttackSanity.Point(0.05f, 5, pgd5), new AttackSanity.Point(0.05f, 10, pgd10),
                    new AttackSanity.Point(0.3f, 10, pgdBig));
            assertEquals(List.of(), AttackSanity.problems(points, fgsm, 0.02));
        }
    }

    @Test
    void sanityFlagsAnAttackThatLooksMasked() {
        List<AttackSanity.Point> masked = List.of(new AttackSanity.Point(0.1f, 10, 0.6), new AttackSanity.Point(0.3f, 20, 0.7));
        List<String> problems = AttackSanity.problems(masked, 0.3, 0.01);
        assertEquals(3, problems.size(), problems.toString());
    }

    @Test
    void eceOfAPerfectlyCalibratedAndAnOverconfidentModel() {
        SplittableRandom rng = new SplittableRandom(1);
        int n = 20000;
        double[] conf = new double[n];
        boolean[] calibrated = new boolean[n], over = new boolean[n];
        for (int i = 0; i < n; i++) {
            conf[i] = 0.5 + 0.5 * rng.nextDouble();
            calibrated[i] = rng.nextDouble() < conf[i];
            over[i] = rng.nextDouble() < conf[i] - 0.2;
        }
        assertTrue(Calibration.of(conf, calibrated).ece() < 0.02);
        Calibration.Result r = Calibration.of(conf, over);
        assertEquals(0.2, r.ece(), 0.02);
        assertEquals(Calibration.BINS, r.bins().length);
        assertEquals(n, Arrays.stream(r.bins()).mapToLong(Calibration.Bin::count).sum());
        assertThrows(IllegalArgumentException.class, () -> Calibration.of(new double[] {1.5}, new boolean[] {true}));
    }

    @Test
    void driftMonitorStaysQuietOnTheSameDistributionAndAlertsOnAShift() {
        SplittableRandom rng = new SplittableRandom(2);
        double[] ref = new double[5000], same = new double[2000], shifted = new double[2000];
        for (int i = 0; i < ref.length; i++) ref[i] = rng.nextDouble();
        for (int i = 0; i < same.length; i++) same[i] = rng.nextDouble();
        for (int i = 0; i < shifted.length; i++) shifted[i] = 0.3 + rng.nextDouble();
        DriftMonitor monitor = new DriftMonitor(ref);
        DriftMonitor.Report ok = monitor.observe(same), alert = monitor.observe(shifted);
        assertEquals(DriftMonitor.Level.OK, ok.level());
        assertTrue(ok.ksPValue() > 0.01, "same distribution: p " + ok.ksPValue());
        assertEquals(DriftMonitor.Level.ALERT, alert.level(), "psi " + alert.psi());
        assertEquals(0.3, alert.ks(), 0.03);
        assertTrue(alert.ksPValue() < 1e-6);
        assertFalse(alert.psi() < ok.psi());
        assertThrows(IllegalArgumentException.class, () -> new DriftMonitor(new double[5]));
    }
}
