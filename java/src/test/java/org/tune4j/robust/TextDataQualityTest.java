package org.tune4j.robust;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class TextDataQualityTest {
    @Test
    void aFieldThatNamesTheLabelIsFlaggedANoisyOneIsNot() {
        SplittableRandom rng = new SplittableRandom(1);
        int n = 400;
        int[] labels = new int[n];
        String[] list = new String[n], mailer = new String[n];
        for (int i = 0; i < n; i++) {
            labels[i] = rng.nextInt(2);
            list[i] = labels[i] == 0 ? "<exmh-users.spamassassin.taint.org> list " + rng.nextInt(5) : ""; // only ham comes through lists
            mailer[i] = "Mailer " + rng.nextInt(7);
        }
        Map<String, String[]> fields = new LinkedHashMap<>();
        fields.put("list-id", list);
        fields.put("x-mailer", mailer);
        var probes = TextDataQuality.fieldLeakage(fields, labels, 2, 5, 0.9, 3);
        assertTrue(probes.get(0).flagged() && probes.get(0).balancedAccuracy() > 0.99, probes.get(0).toString());
        assertFalse(probes.get(1).flagged(), probes.get(1).toString());
        assertEquals(0.5, probes.get(1).balancedAccuracy(), 0.1);
    }

    @Test
    void nearDuplicatesAreFoundAcrossSplitsAndTheEstimateTracksJaccard() {
        SplittableRandom rng = new SplittableRandom(2);
        List<String> train = new ArrayList<>(), test = new ArrayList<>();
        for (int i = 0; i < 50; i++) train.add(words(rng, 80));
        String copy = train.get(7).replaceFirst("^\\S+", "changed"); // the first of 80 words changed: 77 of 79 distinct 3-word shingles shared
        test.add(words(rng, 80));
        test.add(copy);
        var found = TextDataQuality.nearDuplicates(train, test, 0.8);
        assertEquals(1, found.size(), found.toString());
        assertEquals(1, found.get(0).testIndex());
        assertEquals(7, found.get(0).trainIndex());
        assertEquals(77.0 / 79, found.get(0).jaccard(), 0.06); // 128 hashes: the estimate's sd is about sqrt(J(1-J)/128) = 0.014
    }

    private static String words(SplittableRandom rng, int n) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < n; i++) sb.append(i == 0 ? "" : " ").append("w").append(rng.nextInt(5000));
        return sb.toString();
    }
}
