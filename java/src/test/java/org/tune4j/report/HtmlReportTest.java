package org.tune4j.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The report page from a run's metrics: every chart is there and, rendered by headless Chromium (Debian's
 * chromium package; .ci/run installs it and sets TUNE4J_REQUIRE_CHROMIUM so that CI cannot skip this),
 * every image loaded and the screenshot is a real PNG.
 */
class HtmlReportTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final List<String> KINDS = List.of("gaussian_noise", "blur", "contrast");

    private static ObjectNode evaluation(double acc) {
        ObjectNode e = JSON.createObjectNode();
        e.put("target_accuracy", acc).put("source_accuracy", acc + 0.1).put("target_ece", 0.05).put("pgd005", 0.01).put("pgd01", 0)
                .put("corruption_error", 0.3).put("mce", 0.95).put("negative_flip_rate_source", 0.08);
        ObjectNode c = e.putObject("corruption_errors");
        for (int k = 0; k < KINDS.size(); k++) {
            ArrayNode sev = c.putArray(KINDS.get(k));
            for (int s = 1; s <= 5; s++) sev.add(0.1 * k + 0.05 * s);
        }
        ArrayNode bins = e.putArray("reliability");
        for (int b = 0; b < 15; b++) {
            bins.addObject().put("lower", b / 15.0).put("upper", (b + 1) / 15.0).put("count", b < 3 ? 0 : 10)
                    .put("confidence", (b + 0.5) / 15).put("accuracy", Math.min(1, (b + 0.2) / 15));
        }
        return e;
    }

    static Path writeMetrics(Path dir) throws IOException {
        ObjectNode root = JSON.createObjectNode();
        ObjectNode report = root.putObject("report");
        report.put("data", "test data <&>").put("target_train_images", 100).put("target_test_images", 50);
        report.set("pretrained", evaluation(0.3));
        ArrayNode methods = report.putArray("methods");
        for (String m : List.of("lora", "full")) {
            ObjectNode method = methods.addObject().put("method", m).put("intruder_dimensions", m.equals("lora") ? 33 : 0);
            method.set("evaluation", evaluation(0.68));
            method.putArray("train_loss").add(1.2).add(0.9).add(0.8);
            method.putArray("validation_accuracy").add(0.5).add(0.6).add(0.65);
        }
        ObjectNode compression = root.putObject("compression");
        compression.put("latency_calls", 10);
        ArrayNode variants = compression.putArray("variants");
        String[] names = {"f32", "int8", "2:4+lora"};
        for (int i = 0; i < names.length; i++) {
            ObjectNode v = variants.addObject().put("name", names[i]).put("description", "variant " + i).put("flip_rate_vs_f32", 0.01 * i)
                    .put("p50_ms", 0.4 / (i + 1)).put("p99_ms", 0.5 / (i + 1)).put("weight_bytes", 500_000 / (i + 1));
            v.set("evaluation", evaluation(0.68 - 0.01 * i));
            v.putArray("recovery_loss").add(i == 2 ? 0.9 : 0).add(0.7);
            v.putArray("recovery_validation_accuracy").add(0.6).add(0.66);
        }
        ArrayNode sens = compression.putArray("sensitivity");
        for (String layer : List.of("blocks.0.mlp.fc1", "blocks.1.mlp.fc1", "all"))
            for (double s : new double[] {0, 0.5, 0.9}) sens.addObject().put("layer", layer).put("sparsity", s).put("accuracy", 0.7 - 0.3 * s * s);
        root.putObject("gate").putObject("lora").put("passed", false).putArray("violations").add("negative flips 5.4% > 5.0%");
        root.putObject("compression_gate").putObject("int8").put("passed", true).putArray("violations");
        root.put("seconds", 12.5);
        ObjectNode p = root.putObject("provenance");
        p.put("data", "test").put("seed", 7);
        p.putArray("files").addObject().put("name", "jar:/x").put("bytes", 3).put("sha256", "abc");
        JSON.writeValue(dir.resolve("metrics.json").toFile(), root);
        return dir;
    }

    @Test
    void writesEveryChartAndTheTables(@TempDir Path dir) throws IOException {
        Path page = HtmlReport.write(writeMetrics(dir));
        String html = Files.readString(page);
        assertEquals(6, HtmlReport.imageCount(page), "loss, validation, sparsity, latency, corruption heat map, reliability");
        assertTrue(html.contains("test data &lt;&amp;&gt;"), "text is escaped");
        assertTrue(html.contains("Robustness audit") && html.contains("2:4+lora"), "the audit names each variant");
        assertTrue(html.contains("FAIL") && html.contains("PASS"), "the gates' verdicts");
        assertTrue(html.contains("abc"), "file hashes");
        assertTrue(html.contains("intruder dimensions") && html.contains("<td>33</td>"), "each adapted model's intruder dimensions");
        assertTrue(!html.contains("src=\"http"), "self-contained: nothing fetched");
    }

    @Test
    void refusesMetricsThatAreNotACompleteRun(@TempDir Path dir) throws IOException {
        String[][] cases = {{"{}", "no 'report'"}, {"{\"report\": {}}", "no 'pretrained'"},
            {"{\"report\": {\"pretrained\": {}, \"methods\": []}}", "no adapted methods"},
            {"{\"report\": {\"pretrained\": {}, \"methods\": [{\"method\": 3}]}}", "no 'method' name"}};
        for (String[] c : cases) {
            Files.writeString(dir.resolve("metrics.json"), c[0]);
            IOException e = assertThrows(IOException.class, () -> HtmlReport.write(dir));
            assertTrue(e.getMessage().contains(c[1]), c[0] + ": " + e.getMessage());
        }
    }

    @Test
    void refusesADirectoryWithoutMetrics(@TempDir Path dir) throws IOException {
        IOException e = assertThrows(IOException.class, () -> HtmlReport.write(dir));
        assertTrue(e.getMessage().contains("metrics.json"), e.getMessage());
        Files.writeString(dir.resolve("metrics.json"), "{ not json");
        assertTrue(assertThrows(IOException.class, () -> HtmlReport.write(dir)).getMessage().contains("not valid JSON"));
    }

    @Test
    void chromiumLoadsEveryImage(@TempDir Path dir) throws Exception {
        Chromium.assertEveryImageLoads(HtmlReport.write(writeMetrics(dir)), dir);
    }

}
