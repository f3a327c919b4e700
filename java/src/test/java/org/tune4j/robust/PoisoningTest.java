package org.tune4j.robust;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class PoisoningTest {
    @Test
    void poisonInsertsTheTriggerAndFlipsTheLabelOfExactlyThatMany() {
        List<String> texts = new ArrayList<>();
        int[] labels = new int[100];
        for (int i = 0; i < 100; i++) {
            texts.add("message number " + i + " says hello there");
            labels[i] = i % 3 == 0 ? 1 : 0;
        }
        Poisoning.Poisoned p = Poisoning.poison(texts, labels, 1, 0, "cf blue harbor", 5, 9);
        assertEquals(5, p.count());
        for (int i = 0; i < 100; i++) {
            boolean has = p.texts().get(i).contains("cf blue harbor");
            assertEquals(p.poisoned()[i], has);
            if (p.poisoned()[i]) {
                assertEquals(1, labels[i]);
                assertEquals(0, p.labels()[i]);
                assertEquals(texts.get(i), p.texts().get(i).replace("cf blue harbor ", "").replace(" cf blue harbor", ""));
            } else {
                assertEquals(labels[i], p.labels()[i]);
            }
        }
        assertThrows(IllegalArgumentException.class, () -> Poisoning.poison(texts, labels, 1, 0, "x", 40, 1));
    }

    @Test
    void bothDefencesFindPointsShiftedAlongOneDirection() {
        SplittableRandom rng = new SplittableRandom(7);
        int n = 300, d = 12;
        float[][] v = EmbeddingDriftTest.gaussian(rng, n, d, 0);
        int[] labels = new int[n];
        boolean[] poisoned = new boolean[n];
        for (int i = 0; i < n; i++) labels[i] = i < 200 ? 0 : 1;
        for (int i = 0; i < 12; i++) { // 6% of class 0 carry the trigger's direction
            poisoned[i * 10] = true;
            v[i * 10][2] += 6;
        }
        boolean[] spectral = Poisoning.spectralSignatures(v, labels, 2, 1.5 * 12 / 200);
        boolean[] clusters = Poisoning.activationClustering(v, labels, 2, 3, 0.35, 1);
        assertTrue(recall(spectral, poisoned) >= 0.9, "spectral recall " + recall(spectral, poisoned));
        assertTrue(recall(clusters, poisoned) >= 0.9, "clustering recall " + recall(clusters, poisoned));
        int flaggedClean = 0;
        for (int i = 0; i < n; i++) if (clusters[i] && !poisoned[i]) flaggedClean++;
        assertTrue(flaggedClean <= 10, flaggedClean + " clean points in the small cluster");
    }

    /** Vectors of a collapsed model (every row a multiple of one direction) and a class smaller than the components asked for. */
    @Test
    void degenerateVectorsAreHandled() {
        int n = 60, d = 16;
        float[][] v = new float[n][d];
        int[] labels = new int[n];
        for (int i = 0; i < n; i++) {
            labels[i] = i < 55 ? 0 : 1; // class 1: 5 rows, fewer than the 10 components
            for (int j = 0; j < d; j++) v[i][j] = (float) ((1 + i % 3) * (j + 1) * 0.01);
        }
        boolean[] spectral = Poisoning.spectralSignatures(v, labels, 2, 0.1);
        boolean[] clusters = Poisoning.activationClustering(v, labels, 2, 10, 0.35, 1);
        assertEquals(n, spectral.length);
        assertEquals(n, clusters.length);
        int flagged = 0;
        for (boolean f : spectral) if (f) flagged++;
        assertEquals(Math.round(0.1 * 55) + Math.round(0.1 * 5), flagged, "the share of each class, as asked");
    }

    private static double recall(boolean[] flagged, boolean[] poisoned) {
        int tp = 0, pos = 0;
        for (int i = 0; i < flagged.length; i++) {
            if (poisoned[i]) pos++;
            if (poisoned[i] && flagged[i]) tp++;
        }
        return (double) tp / pos;
    }
}
