package org.tune4j.report;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import org.knowm.xchart.XYChart;

/**
 * One self-contained HTML page from a run's {@code metrics.json} (written by {@code tune4j demo}): loss
 * curves, accuracy against sparsity, latency against accuracy, a corruption heat map, reliability
 * diagrams, the robustness audit of every compressed variant against f32, the gates' verdicts and the
 * run's provenance. Charts are PNGs embedded as data URIs; a few lines of script mark on the page how many
 * images loaded ({@code data-images="loaded/total"} on the body), which the test reads in a browser.
 */
public final class HtmlReport {
    private final JsonNode m;
    private final StringBuilder html = new StringBuilder();
    private int images;

    private HtmlReport(JsonNode metrics) {
        this.m = metrics;
    }

    /** Whether this Java runtime can draw the charts: XChart draws with AWT, the java.desktop module, which a trimmed runtime may lack. */
    public static boolean canDraw() {
        return ModuleLayer.boot().findModule("java.desktop").isPresent();
    }

    /** Reads {@code dir/metrics.json} and writes {@code dir/report.html}; returns the page's path. */
    public static Path write(Path dir) throws IOException {
        JsonNode root = readMetrics(dir, "demo");
        Path metrics = dir.resolve("metrics.json");
        if (root == null || !root.has("report")) throw new IOException(metrics + " is not a tune4j demo's metrics (no 'report')");
        // a page of zeros from an incomplete file would look like a run: its parts must be there
        JsonNode report = root.path("report");
        if (!report.path("pretrained").isObject()) throw new IOException(metrics + ": 'report' has no 'pretrained' measures (an incomplete demo run?)");
        if (!report.path("methods").isArray() || report.path("methods").isEmpty()) throw new IOException(metrics + ": 'report' lists no adapted methods");
        for (JsonNode method : report.path("methods")) {
            if (!method.path("method").isTextual() || !method.path("evaluation").isObject()) {
                throw new IOException(metrics + ": an entry of 'report.methods' has no 'method' name or no 'evaluation'");
            }
        }
        Path out = dir.resolve("report.html");
        Files.writeString(out, new HtmlReport(root).render());
        return out;
    }

    /**
     * {@code dir/metrics.json} of a run of {@code command} (demo, finetune), read for its page; refused by name when the
     * runtime cannot draw, the file is missing or it is not JSON.
     */
    public static JsonNode readMetrics(Path dir, String command) throws IOException {
        if (!canDraw()) {
            throw new IOException("report.html needs the java.desktop module (its charts are drawn with AWT), which this Java runtime lacks: "
                    + "run `tune4j report " + dir + "` on a full JDK");
        }
        Path metrics = dir.resolve("metrics.json");
        if (!Files.isRegularFile(metrics)) throw new IOException("no metrics.json in " + dir + " (run tune4j " + command + " --out " + dir + " first)");
        try {
            return new ObjectMapper().readTree(metrics.toFile());
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IOException(metrics + " is not valid JSON: " + e.getOriginalMessage());
        }
    }

    /** How many charts a page has (the test checks that all of them loaded). */
    public static int imageCount(Path html) throws IOException {
        String s = Files.readString(html);
        int n = 0;
        for (int i = s.indexOf("<img "); i >= 0; i = s.indexOf("<img ", i + 1)) n++;
        return n;
    }

    private String render() throws IOException {
        JsonNode report = m.path("report"), compression = m.path("compression");
        html.append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>tune4j run report</title>\n<style>")
                .append("body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}")
                .append("table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}")
                .append("th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}.fail{color:#b00}.pass{color:#070}")
                .append("img{display:block;margin:1em 0;border:1px solid #eee}code{background:#f6f6f6}</style></head>\n<body>\n");
        html.append("<h1>tune4j: adapt, harden, compress</h1>\n<p>").append(esc(report.path("data").asText()))
                .append(": adapted from ").append(report.path("target_train_images").asInt()).append(" shifted images, tested on ")
                .append(report.path("target_test_images").asInt()).append(" shifted and as many clean ones. Run took ")
                .append(String.format("%.0f s", m.path("seconds").asDouble())).append(".</p>\n");
        models(report, compression);
        training(report, compression);
        sparsity(compression);
        latency(compression);
        audit(compression);
        corruption(report, compression);
        reliability(report, compression);
        gates();
        provenance();
        html.append("<script>window.addEventListener('load',function(){var all=document.images,ok=0;")
                .append("for(var i=0;i<all.length;i++)if(all[i].complete&&all[i].naturalWidth>0)ok++;")
                .append("document.body.setAttribute('data-images',ok+'/'+all.length);});</script>\n</body></html>\n");
        return html.toString();
    }

    /** Every model with its evaluation: the pretrained one, the adapted ones, the compressed variants. */
    private List<Map.Entry<String, JsonNode>> evaluations(JsonNode report, JsonNode compression) {
        List<Map.Entry<String, JsonNode>> out = new ArrayList<>();
        out.add(Map.entry("pretrained", report.path("pretrained")));
        for (JsonNode method : report.path("methods")) out.add(Map.entry(method.path("method").asText(), method.path("evaluation")));
        for (JsonNode v : compression.path("variants")) {
            if (!v.path("name").asText().equals("f32")) out.add(Map.entry(v.path("name").asText(), v.path("evaluation")));
        }
        return out;
    }

    private void models(JsonNode report, JsonNode compression) {
        html.append("<h2>Models</h2>\n<table><tr><th>model</th><th>shifted</th><th>clean</th><th>PGD-20 ε.05</th><th>PGD-20 ε.1</th>")
                .append("<th>corruption error</th><th>mCE</th><th>ECE</th><th>neg. flips (clean, vs pretrained)</th>")
                .append("<th title=\"new large singular directions in the adapted layers' weights (Shuttleworth et al. 2024)\">intruder dimensions</th></tr>\n");
        Map<String, String> intruders = new java.util.HashMap<>();
        for (JsonNode method : report.path("methods")) intruders.put(method.path("method").asText(), method.path("intruder_dimensions").asText(""));
        for (Map.Entry<String, JsonNode> e : evaluations(report, compression)) {
            JsonNode ev = e.getValue();
            html.append("<tr><td>").append(esc(e.getKey())).append("</td>").append(pct(ev, "target_accuracy")).append(pct(ev, "source_accuracy"))
                    .append(pct(ev, "pgd005")).append(pct(ev, "pgd01")).append(pct(ev, "corruption_error"))
                    .append(num(ev.path("mce").asDouble(), "%.2f")).append(num(ev.path("target_ece").asDouble(), "%.3f"))
                    .append(e.getKey().equals("pretrained") ? "<td></td>" : pct(ev, "negative_flip_rate_source"))
                    .append("<td>").append(esc(intruders.getOrDefault(e.getKey(), ""))).append("</td></tr>\n");
        }
        html.append("</table>\n");
    }

    private void training(JsonNode report, JsonNode compression) throws IOException {
        XYChart loss = Charts.lines("Training loss per epoch", "epoch", "mean cross-entropy");
        XYChart val = Charts.lines("Validation accuracy per epoch (shifted)", "epoch", "accuracy");
        for (JsonNode method : report.path("methods")) {
            Charts.line(loss, method.path("method").asText(), epochs(method.path("train_loss")), values(method.path("train_loss")));
            Charts.line(val, method.path("method").asText(), epochs(method.path("validation_accuracy")), values(method.path("validation_accuracy")));
        }
        for (JsonNode v : compression.path("variants")) {
            if (v.path("recovery_loss").size() == 0 || v.path("name").asText().endsWith("int8")) continue;
            String name = v.path("name").asText() + " recovery";
            Charts.line(loss, name, epochs(v.path("recovery_loss")), values(v.path("recovery_loss")));
            Charts.line(val, name, epochs(v.path("recovery_validation_accuracy")), values(v.path("recovery_validation_accuracy")));
        }
        html.append("<h2>Training</h2>\n");
        image(loss, "training loss per epoch of each method");
        image(val, "validation accuracy per epoch of each method");
    }

    private void sparsity(JsonNode compression) throws IOException {
        JsonNode points = compression.path("sensitivity");
        if (points.size() == 0) return;
        XYChart c = Charts.lines("Accuracy against unstructured sparsity (magnitude, f32 model)", "sparsity", "shifted accuracy");
        Map<String, List<double[]>> byLayer = new java.util.LinkedHashMap<>();
        for (JsonNode p : points) {
            String layer = p.path("layer").asText();
            String kind = layer.equals("all") ? "all blocks' layers together" : layer.substring(layer.lastIndexOf('.') + 1) + " (one layer, mean)";
            byLayer.computeIfAbsent(kind, k -> new ArrayList<>()).add(new double[] {p.path("sparsity").asDouble(), p.path("accuracy").asDouble()});
        }
        for (Map.Entry<String, List<double[]>> e : byLayer.entrySet()) {
            Map<Double, double[]> mean = new java.util.TreeMap<>(); // sparsity -> (sum, count)
            for (double[] p : e.getValue()) {
                double[] acc = mean.computeIfAbsent(p[0], k -> new double[2]);
                acc[0] += p[1];
                acc[1]++;
            }
            double[] x = mean.keySet().stream().mapToDouble(Double::doubleValue).toArray();
            double[] y = mean.values().stream().mapToDouble(a -> a[0] / a[1]).toArray();
            Charts.line(c, e.getKey(), x, y);
        }
        for (JsonNode v : compression.path("variants")) {
            if (v.path("name").asText().startsWith("2:4")) {
                Charts.points(c, v.path("name").asText() + " (2:4 = 50%, after recovery)", new double[] {0.5},
                        new double[] {v.path("evaluation").path("target_accuracy").asDouble()});
            }
        }
        html.append("<h2>Accuracy against sparsity</h2>\n<p>Each layer of the blocks pruned alone (averaged over the blocks, by kind), and all ")
                .append("of them together, one-shot by magnitude without retraining; the 2:4 variants after their LoRA recovery.</p>\n");
        image(c, "accuracy against sparsity");
    }

    private void latency(JsonNode compression) throws IOException {
        if (compression.path("variants").size() == 0) return;
        XYChart c = Charts.lines("Batch-1 latency against accuracy", "latency (ms, p50 ◆ and p99 ●)", "shifted accuracy");
        html.append("<h2>Latency against accuracy</h2>\n<table><tr><th>variant</th><th>what</th><th>p50 ms</th><th>p99 ms</th>")
                .append("<th>speed-up p50</th><th>weights</th><th>shifted</th></tr>\n");
        double f32p50 = compression.path("variants").get(0).path("p50_ms").asDouble();
        for (JsonNode v : compression.path("variants")) {
            double acc = v.path("evaluation").path("target_accuracy").asDouble();
            Charts.points(c, v.path("name").asText() + " p50", new double[] {v.path("p50_ms").asDouble()}, new double[] {acc});
            Charts.line(c, v.path("name").asText() + " p99", new double[] {v.path("p99_ms").asDouble()}, new double[] {acc});
            html.append("<tr><td>").append(esc(v.path("name").asText())).append("</td><td style=\"text-align:left\">")
                    .append(esc(v.path("description").asText())).append("</td>").append(num(v.path("p50_ms").asDouble(), "%.3f"))
                    .append(num(v.path("p99_ms").asDouble(), "%.3f")).append(num(f32p50 / v.path("p50_ms").asDouble(), "%.2fx"))
                    .append(num(v.path("weight_bytes").asDouble() / 1024, "%.0f KiB")).append(pct(v.path("evaluation"), "target_accuracy"))
                    .append("</tr>\n");
        }
        html.append("</table>\n<p>Latency: ").append(compression.path("latency_calls").asInt())
                .append(" single-image calls through a Predictor after as many warm-up calls, one thread.</p>\n");
        image(c, "latency against accuracy");
    }

    /** What each compressed variant lost against f32, on clean, shifted, corrupted and adversarial data. */
    private void audit(JsonNode compression) {
        JsonNode variants = compression.path("variants");
        if (variants.size() < 2) return;
        JsonNode f32 = variants.get(0).path("evaluation");
        html.append("<h2>Robustness audit of compression (points against f32)</h2>\n<table><tr><th>variant</th><th>shifted</th>")
                .append("<th>clean</th><th>corrupted (error)</th><th>PGD-20 ε.05</th><th>PGD-20 ε.1</th><th>ECE</th>")
                .append("<th>flips vs f32 (shifted)</th></tr>\n");
        for (int i = 1; i < variants.size(); i++) {
            JsonNode v = variants.get(i), e = v.path("evaluation");
            html.append("<tr><td>").append(esc(v.path("name").asText())).append("</td>").append(delta(e, f32, "target_accuracy"))
                    .append(delta(e, f32, "source_accuracy")).append(delta(e, f32, "corruption_error")).append(delta(e, f32, "pgd005"))
                    .append(delta(e, f32, "pgd01")).append(num(e.path("target_ece").asDouble() - f32.path("target_ece").asDouble(), "%+.3f"))
                    .append(pct(v, "flip_rate_vs_f32")).append("</tr>\n");
        }
        html.append("</table>\n<p>Accuracy columns: change in points (negative is a loss); corrupted: change in mean error over 11 ")
                .append("corruptions × 5 severities (positive is a loss); flips: shifted test images f32 got right and the variant gets wrong.</p>\n");
    }

    private void corruption(JsonNode report, JsonNode compression) throws IOException {
        List<Map.Entry<String, JsonNode>> models = evaluations(report, compression);
        List<String> kinds = new ArrayList<>();
        for (Iterator<String> it = models.get(0).getValue().path("corruption_errors").fieldNames(); it.hasNext(); ) kinds.add(it.next());
        if (kinds.isEmpty()) return;
        List<String> names = models.stream().map(Map.Entry::getKey).toList();
        double[][] z = new double[kinds.size()][names.size()];
        for (int r = 0; r < kinds.size(); r++)
            for (int c = 0; c < names.size(); c++) {
                JsonNode errors = models.get(c).getValue().path("corruption_errors").path(kinds.get(r));
                double sum = 0;
                for (JsonNode e : errors) sum += e.asDouble();
                z[r][c] = errors.size() == 0 ? Double.NaN : 100 * sum / errors.size();
            }
        html.append("<h2>Corruptions</h2>\n");
        image(Charts.heatMap("Error (%) under each corruption, mean of 5 severities", names, kinds, z), "corruption heat map");
    }

    private void reliability(JsonNode report, JsonNode compression) throws IOException {
        XYChart c = Charts.lines("Reliability diagram (shifted test set, 15 bins)", "confidence", "accuracy");
        Charts.line(c, "perfect calibration", new double[] {0, 1}, new double[] {0, 1});
        for (Map.Entry<String, JsonNode> e : evaluations(report, compression)) {
            List<double[]> bins = new ArrayList<>();
            for (JsonNode b : e.getValue().path("reliability")) {
                if (b.path("count").asLong() > 0) bins.add(new double[] {b.path("confidence").asDouble(), b.path("accuracy").asDouble()});
            }
            Charts.line(c, e.getKey() + String.format(" (ECE %.3f)", e.getValue().path("target_ece").asDouble()),
                    bins.stream().mapToDouble(b -> b[0]).toArray(), bins.stream().mapToDouble(b -> b[1]).toArray());
        }
        html.append("<h2>Calibration</h2>\n");
        image(c, "reliability diagram");
    }

    private void gates() {
        html.append("<h2>Gates</h2>\n<table><tr><th>candidate</th><th>against</th><th>verdict</th><th>violations</th></tr>\n");
        gateRows(m.path("gate"), "pretrained");
        gateRows(m.path("compression_gate"), "f32 adapted (lora)");
        html.append("</table>\n");
    }

    private void gateRows(JsonNode gates, String baseline) {
        for (Iterator<Map.Entry<String, JsonNode>> it = gates.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> g = it.next();
            boolean passed = g.getValue().path("passed").asBoolean();
            List<String> violations = new ArrayList<>();
            g.getValue().path("violations").forEach(v -> violations.add(v.asText()));
            html.append("<tr><td>").append(esc(g.getKey())).append("</td><td>").append(esc(baseline)).append("</td><td class=\"")
                    .append(passed ? "pass\">PASS" : "fail\">FAIL").append("</td><td style=\"text-align:left\">")
                    .append(esc(String.join("; ", violations))).append("</td></tr>\n");
        }
    }

    private void provenance() {
        JsonNode p = m.path("provenance");
        html.append("<h2>Provenance</h2>\n<table>");
        for (Iterator<Map.Entry<String, JsonNode>> it = p.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (e.getKey().equals("files")) continue;
            html.append("<tr><td>").append(esc(e.getKey())).append("</td><td style=\"text-align:left\"><code>")
                    .append(esc(e.getValue().isValueNode() ? e.getValue().asText() : e.getValue().toString())).append("</code></td></tr>\n");
        }
        html.append("</table>\n<table><tr><th>data file</th><th>bytes</th><th>SHA-256</th></tr>\n");
        for (JsonNode f : p.path("files")) {
            html.append("<tr><td>").append(esc(f.path("name").asText())).append("</td><td>").append(f.path("bytes").asLong())
                    .append("</td><td><code>").append(esc(f.path("sha256").asText())).append("</code></td></tr>\n");
        }
        html.append("</table>\n");
    }

    private void image(org.knowm.xchart.internal.chartpart.Chart<?, ?> chart, String alt) throws IOException {
        images++;
        html.append("<img alt=\"").append(esc(alt)).append("\" width=\"").append(chart.getWidth()).append("\" height=\"").append(chart.getHeight())
                .append("\" src=\"").append(Charts.dataUri(chart)).append("\">\n");
    }

    private static double[] values(JsonNode array) {
        double[] out = new double[array.size()];
        for (int i = 0; i < out.length; i++) out[i] = array.get(i).asDouble();
        return out;
    }

    private static double[] epochs(JsonNode array) {
        double[] out = new double[array.size()];
        for (int i = 0; i < out.length; i++) out[i] = i + 1;
        return out;
    }

    private static String pct(JsonNode node, String field) {
        return node.has(field) ? num(100 * node.path(field).asDouble(), "%.2f%%") : "<td></td>";
    }

    private static String delta(JsonNode e, JsonNode base, String field) {
        return num(100 * (e.path(field).asDouble() - base.path(field).asDouble()), "%+.2f");
    }

    private static String num(double v, String format) {
        return "<td>" + (Double.isFinite(v) ? String.format(format, v) : "") + "</td>";
    }

    static String esc(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }
}
