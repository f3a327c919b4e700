package org.tune4j.experiments;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.tune4j.train.TextTrainer;

/** The text experiments' progress lines name their numbers and round them, where they printed Java's toString before. */
class ProgressTextTest {
    private Locale before;

    @BeforeEach
    void english() {
        before = Locale.getDefault();
        Locale.setDefault(Locale.ROOT); // the lines follow the default locale, as the CLI's other lines do
    }

    @AfterEach
    void restore() {
        Locale.setDefault(before);
    }

    @Test
    void scoresAreNamedWithThreeDecimals() {
        Map<String, Double> auroc = new LinkedHashMap<>();
        auroc.put("msp", 0.7819351464435147);
        auroc.put("pretrained knn", 0.9334);
        assertEquals("msp 0.782, pretrained knn 0.933", ProgressText.scores(auroc));
    }

    @Test
    void editBudgetsSayEditOrEdits() {
        Map<Integer, Double> success = new LinkedHashMap<>();
        success.put(1, 0.1);
        success.put(3, 0.26666666666666666);
        assertEquals("1 edit 0.100, 3 edits 0.267", ProgressText.byEdits(success));
    }

    @Test
    void aDetectionSaysWhatItFound() {
        var d = new TextRobustness.Detection("confident learning", 84, 27, 0.32142857142857145, 0.9);
        assertEquals("confident learning flagged 84, 27 of them flipped (precision 0.321, recall 0.900)", ProgressText.detection(d, "flipped"));
    }

    @Test
    void freeLbSettingsReadAsTheyAreMeant() {
        assertEquals("2 ascent steps of 0.1 from 0.1, no norm bound", ProgressText.freeLb(new TextTrainer.FreeLb(2, 0.1f, 0f, 0.1f)));
        assertEquals("1 ascent step of 0.01 from 0.0, norm at most 0.05", ProgressText.freeLb(new TextTrainer.FreeLb(1, 0.01f, 0.05f, 0f)));
    }
}
