package org.tune4j.robust;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.tune4j.data.FashionMnist;
import org.tune4j.data.ImageDataset;

/** Planted duplicates and planted label errors are found. */
class DataQualityTest {
    @Test
    void plantedDuplicatesAreFoundExactAndNear() throws IOException {
        ImageDataset train = FashionMnist.embedded().train().subset(range(0, 2000));
        ImageDataset base = FashionMnist.embedded().test().subset(range(0, 100));
        // test images 0 and 1 are training images 5 and 6; image 1 with a few pixels changed
        byte[] px = new byte[100 * 784];
        int[] labels = new int[100];
        for (int i = 0; i < 100; i++) {
            ImageDataset src = i < 2 ? train : base;
            int j = i < 2 ? 5 + i : i;
            for (int p = 0; p < 784; p++) px[i * 784 + p] = (byte) src.pixel(j, p);
            labels[i] = src.label(j);
        }
        for (int p = 300; p < 306; p++) px[784 + p] = (byte) 255;
        ImageDataset test = new ImageDataset(px, labels, 28, 28, FashionMnist.CLASSES);
        List<DataQuality.Duplicate> found = DataQuality.duplicates(train, test, 6, 3.0);
        assertTrue(found.stream().anyMatch(d -> d.testIndex() == 0 && d.trainIndex() == 5 && d.pixelDifference() == 0), found.toString());
        assertTrue(found.stream().anyMatch(d -> d.testIndex() == 1 && d.trainIndex() == 6 && d.pixelDifference() > 0), found.toString());
        assertEquals(2, found.size(), "no false matches among 98 other images: " + found);
    }

    @Test
    void confidentLearningFindsFlippedLabels() {
        int n = 300, classes = 3;
        float[][] probs = new float[n][classes];
        int[] labels = new int[n];
        for (int i = 0; i < n; i++) {
            int c = i % classes;
            labels[i] = c;
            probs[i][c] = 0.9f;
            probs[i][(c + 1) % classes] = 0.07f;
            probs[i][(c + 2) % classes] = 0.03f;
        }
        int[] flipped = {10, 50, 100};
        for (int i : flipped) labels[i] = (labels[i] + 1) % classes; // the model still says the true class
        List<DataQuality.LabelIssue> issues = DataQuality.labelIssues(probs, labels, classes);
        assertEquals(3, issues.size(), issues.toString());
        for (DataQuality.LabelIssue is : issues) assertEquals(is.index() % classes, is.suggestedLabel());
    }

    private static int[] range(int from, int to) {
        int[] r = new int[to - from];
        Arrays.setAll(r, i -> from + i);
        return r;
    }

    /**
     * Cross-fitted probabilities let confident learning find flipped labels: two separable clouds, 5% of labels flipped.
     * The rule flags an example whose other class's probability passes that class's mean self-confidence, so a flipped
     * example is found when the model trusts it at least as much as a typical example of its true class: about 60% here,
     * and almost nothing clean.
     */
    @org.junit.jupiter.api.Test
    void crossFittedProbabilitiesFindFlippedLabels() {
        java.util.SplittableRandom rng = new java.util.SplittableRandom(8);
        int n = 400, d = 6;
        float[][] x = EmbeddingDriftTest.gaussian(rng, n, d, 0);
        int[] labels = new int[n];
        boolean[] flipped = new boolean[n];
        for (int i = 0; i < n; i++) {
            labels[i] = i % 2;
            x[i][0] += labels[i] == 1 ? 3 : -3;
            if (i % 20 == 0) {
                labels[i] = 1 - labels[i];
                flipped[i] = true;
            }
        }
        float[][] p = CrossFit.probabilities(x, labels, 2, 5, 1);
        var issues = DataQuality.labelIssues(p, labels, 2);
        int found = 0;
        for (var issue : issues) if (flipped[issue.index()]) found++;
        org.junit.jupiter.api.Assertions.assertTrue(found >= 10, found + " of 20 flipped labels found");
        org.junit.jupiter.api.Assertions.assertTrue(issues.size() - found <= 2, (issues.size() - found) + " clean examples flagged");
    }
}
