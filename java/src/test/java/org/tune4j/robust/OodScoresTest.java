package org.tune4j.robust;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class OodScoresTest {
    @Test
    void aurocIsTheShareOfPairsOrderedRightTiesHalf() {
        assertEquals(1.0, OodScores.auroc(new double[] {3, 4}, new double[] {1, 2}), 0);
        assertEquals(0.0, OodScores.auroc(new double[] {1, 2}, new double[] {3, 4}), 0);
        assertEquals(0.5, OodScores.auroc(new double[] {1, 1}, new double[] {1}), 0);
        SplittableRandom rng = new SplittableRandom(2);
        double[] in = new double[57], out = new double[31];
        for (int i = 0; i < in.length; i++) in[i] = Math.floor(rng.nextDouble() * 10);
        for (int i = 0; i < out.length; i++) out[i] = Math.floor(rng.nextDouble() * 8);
        double pairs = 0;
        for (double a : in) for (double b : out) pairs += a > b ? 1 : a == b ? 0.5 : 0;
        assertEquals(pairs / (in.length * out.length), OodScores.auroc(in, out), 1e-12);
    }

    @Test
    void theRocCurveRunsFromNothingToEverythingAndItsAreaIsTheAuroc() {
        SplittableRandom rng = new SplittableRandom(6);
        double[] in = new double[80], out = new double[50];
        for (int i = 0; i < in.length; i++) in[i] = rng.nextDouble() + 0.3;
        for (int i = 0; i < out.length; i++) out[i] = rng.nextDouble();
        double[][] roc = OodScores.rocCurve(in, out, 1000); // every threshold: the trapezoids give the AUROC exactly
        assertEquals(0, roc[0][0], 0);
        assertEquals(0, roc[1][0], 0);
        assertEquals(1, roc[0][roc[0].length - 1], 0);
        assertEquals(1, roc[1][roc[1].length - 1], 0);
        double area = 0;
        for (int p = 1; p < roc[0].length; p++) {
            assertTrue(roc[0][p] >= roc[0][p - 1] && roc[1][p] >= roc[1][p - 1], "monotone");
            area += (roc[0][p] - roc[0][p - 1]) * (roc[1][p] + roc[1][p - 1]) / 2;
        }
        assertEquals(OodScores.auroc(in, out), area, 1e-12);
        assertEquals(21, OodScores.rocCurve(in, out, 20)[0].length);
    }

    @Test
    void softmaxAndEnergyScores() {
        float[][] logits = {{0, 0}, {2, 0}};
        double[] msp = OodScores.maxSoftmax(logits), e = OodScores.negativeEnergy(logits);
        assertEquals(0.5, msp[0], 1e-12);
        assertEquals(1 / (1 + Math.exp(-2)), msp[1], 1e-12);
        assertEquals(Math.log(2), e[0], 1e-12);
        assertEquals(Math.log(Math.exp(2) + 1), e[1], 1e-12);
        assertThrows(IllegalArgumentException.class, () -> OodScores.maxSoftmax(new float[][] {{Float.NaN, 0}}));
    }

    @Test
    void mahalanobisScoresFarPointsLowerAndSeparatesAShiftedCloud() {
        SplittableRandom rng = new SplittableRandom(4);
        int d = 8;
        float[][] train = EmbeddingDriftTest.gaussian(rng, 400, d, 0);
        int[] labels = new int[400];
        for (int i = 0; i < 400; i++) {
            labels[i] = i % 2;
            train[i][0] += labels[i] * 4; // the classes apart along the first axis
        }
        OodScores.Mahalanobis m = new OodScores.Mahalanobis(train, labels, 2, 1e-3);
        float[] near = new float[d], far = new float[d];
        far[3] = 6;
        double[] s = m.scores(new float[][] {near, far});
        assertTrue(s[0] > s[1], "a class mean scores higher than a point 6 sd away: " + s[0] + " vs " + s[1]);
        assertEquals(-36, s[1], 4, "about -6² under unit covariance");
        float[][] in = EmbeddingDriftTest.gaussian(rng, 100, d, 0), out = EmbeddingDriftTest.gaussian(rng, 100, d, 0);
        for (float[] r : out) r[5] += 5;
        assertTrue(OodScores.auroc(m.scores(in), m.scores(out)) > 0.95);
        assertThrows(IllegalArgumentException.class, () -> new OodScores.Mahalanobis(train, new int[400], 2, 1e-3), "class 1 empty");
        // unit vectors keep directions only: clouds away from the origin, as a network's pooled vectors are
        float[][] cloud = EmbeddingDriftTest.gaussian(rng, 400, d, 3), inCloud = EmbeddingDriftTest.gaussian(rng, 100, d, 3), outCloud = EmbeddingDriftTest.gaussian(rng, 100, d, 3);
        for (float[] r : outCloud) r[5] += 6;
        OodScores.NearestNeighbours knn = new OodScores.NearestNeighbours(cloud, 5);
        double a = OodScores.auroc(knn.scores(inCloud), knn.scores(outCloud));
        assertTrue(a > 0.9, "kNN AUROC " + a);
        double[] self = knn.scores(new float[][] {cloud[0]});
        assertTrue(self[0] <= 0 && self[0] > -2, "a training vector is near its neighbours: " + self[0]);
        assertThrows(IllegalArgumentException.class, () -> knn.scores(new float[][] {new float[d]}), "no direction");
    }
}
