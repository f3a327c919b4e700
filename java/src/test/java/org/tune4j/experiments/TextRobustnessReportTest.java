package org.tune4j.experiments;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tune4j.report.HtmlReport;
import org.tune4j.report.TextRobustnessReport;
import org.tune4j.robust.EmbeddingDrift;
import org.tune4j.robust.EvidenceGate;
import org.tune4j.robust.OodScores;
import org.tune4j.robust.TextDataQuality;

/** The robust-text page from a run's records as robust-text writes them: every section there, its numbers, its charts. */
class TextRobustnessReportTest {
    static TextRobustness.Result result() {
        var report = new EmbeddingDrift.Report(0, 0.1, 0.0002, 0.01, 1e-9, new double[] {0.5, 0.5}, EmbeddingDrift.Level.ALERT);
        var calm = new EmbeddingDrift.Report(0, 0.001, 0.6, 0.7, 1.0, new double[] {0.83, 0.17}, EmbeddingDrift.Level.OK);
        var drift = new TextRobustness.Drift(0.9725, 0.848, 0, 2, 0, 100, 0, List.of(report, report), List.of(calm, calm));
        double[][] roc = OodScores.rocCurve(new double[] {3, 4, 5}, new double[] {1, 2, 3.5}, 60);
        var ood = new TextRobustness.Ood(Map.of("msp", 0.77, "pretrained knn", 0.95), Map.of("msp", 0.78, "pretrained knn", 0.52), Map.of("msp", roc, "pretrained knn", roc),
                Map.of("msp", roc, "pretrained knn", roc), 2500, 400, 400, 250);
        var quality = new TextRobustness.Quality(List.of(new TextDataQuality.FieldProbe("received", 0.93, 5596, true, "from localhost <x@y>")),
                List.of(new TextDataQuality.FieldProbe("mailing-list footer in the text", 0.58, 120, false, "")), 6, 9, List.of("Jaccard 0.91: a ~ b"), 0, List.of(), 30,
                new TextRobustness.Detection("confident learning", 20, 18, 0.9, 0.6), 2);
        var poison = new TextRobustness.Poison(6, 600, 55, 0.9725, 0.95, 0.41, 0.05,
                List.of(new TextRobustness.Detection("spectral signatures", 10, 0, 0.0, 0.0), new TextRobustness.Detection("activation clustering", 8, 0, 0.0, 0.0)), 0.94, 0.44, 17);
        boolean[] right = new boolean[300], worse = new boolean[300];
        java.util.Arrays.fill(right, true);
        java.util.Arrays.fill(worse, true);
        for (int i = 0; i < 40; i++) worse[i] = false;
        Map<String, Object> failing = EvidenceGate.summary(EvidenceGate.decide(right, worse, Map.of(), EvidenceGate.Options.defaults()));
        Map<String, Object> passing = EvidenceGate.summary(EvidenceGate.decide(right, right, Map.of(), EvidenceGate.Options.defaults()));
        Map<Integer, Double> s = new LinkedHashMap<>(Map.of(1, 0.1, 3, 0.27, 5, 0.33));
        var evasion = new TextRobustness.Evasion(30, s, s, s, Map.of("homoglyph", 7), List.of("1 edits ([HOMOGLYPH]): \"Grow Up And Вe A Man!\""), 0.96, 30, s, passing);
        var update = new TextRobustness.Update(400, 200, 600, 0.85, 0.97, 0.95, 0.965, 0.955, 0.97, failing);
        var compression = List.of(new TextCompression.Variant("f32", "as trained", 0.9725, 0.848, 50, s, 23.1, null),
                new TextCompression.Variant("int8", "36 of 36 int8", 0.97, 0.85, 50, s, 8.7, passing));
        var run = new TextRobustness.Run(1, 318, drift, ood, quality, poison, evasion, update, compression);
        return new TextRobustness.Result("minilm", 5731, 2962, 2769, 250, TextRobustness.Options.defaults(), List.of(run));
    }

    @Test
    void thePageHasEverySectionItsNumbersAndCharts(@TempDir Path dir) throws Exception {
        new ObjectMapper().setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE).writeValue(dir.resolve("metrics.json").toFile(), result());
        Path page = TextRobustnessReport.write(dir);
        String html = Files.readString(page);
        for (String part : List.of("<h2>Drift</h2>", "<td>0.9725</td><td>0.8480</td><td>100</td><td>0 of 2</td>", "<td>pretrained knn</td><td>0.9500</td><td>0.5200</td>",
                "<td>received</td><td>0.930</td><td>5596</td><td class=\"fail\">yes</td>", "<td>6 of 600</td>", "0.00 / 0.00", "<td>seed 1, 3 edits</td><td>0.270</td>",
                "Вe A Man", "<td>0.8500</td><td>0.9500</td><td>0.9550</td>", "passes", "<td>seed 1, int8 (36 of 36 int8)</td><td>0.9700</td><td>0.8500</td>", "3: 0.270", "<td>8.70 ms</td><td>passes</td>", "<span class=\"fail\">fails</span>", "exact McNemar p")) {
            assertTrue(html.contains(part), "missing " + part);
        }
        assertEquals(3, HtmlReport.imageCount(page), "the drift timeline and two sets of ROC curves");
        org.tune4j.report.Chromium.assertEveryImageLoads(page, dir);
    }

    @Test
    void anotherRunIsRefusedByName(@TempDir Path dir) throws IOException {
        Files.writeString(dir.resolve("metrics.json"), "{\"runs\":[{\"method\":\"lora\"}],\"summary\":[]}");
        assertTrue(assertThrows(IOException.class, () -> TextRobustnessReport.write(dir)).getMessage().contains("not a tune4j robust-text run"));
    }
}
