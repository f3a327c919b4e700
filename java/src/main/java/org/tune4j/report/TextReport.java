package org.tune4j.report;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.knowm.xchart.XYChart;

/**
 * The page of a {@code tune4j finetune} run, from its metrics.json: each method's test accuracy per seed and
 * mean ± sd, the share of parameters trained, forgetting (the genre probe before and after) and int8, as a
 * table; the training loss per epoch and accuracy against forgetting as charts.
 */
public final class TextReport {
    private TextReport() {}

    /** Whether {@code metrics} is a finetune run's (it has "runs" and "summary"). */
    public static boolean isTextRun(JsonNode metrics) {
        return metrics.path("runs").isArray() && metrics.path("summary").isArray();
    }

    /** Reads {@code dir/metrics.json} (a finetune run's) and writes {@code dir/report.html}. */
    public static Path write(Path dir) throws IOException {
        JsonNode m = HtmlReport.readMetrics(dir, "finetune");
        Path file = dir.resolve("metrics.json");
        if (m == null || !isTextRun(m) || m.path("runs").isEmpty()) throw new IOException(file + " is not a tune4j finetune run's metrics (no runs and summary)");
        StringBuilder h = new StringBuilder("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>tune4j finetune report</title><style>")
                .append("body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1000px;color:#222}table{border-collapse:collapse;margin:1em 0}")
                .append("td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}")
                .append("img{display:block;margin:1em 0;border:1px solid #eee}</style></head>\n<body>\n<h1>tune4j: fine-tuning a pretrained BERT</h1>\n<p>")
                .append(HtmlReport.esc(m.path("model").asText())).append(" on ").append(HtmlReport.esc(m.path("data").asText())).append(": ")
                .append(m.path("train_size").asInt()).append(" texts to train and ").append(m.path("test_size").asInt()).append(" to test per seed, ")
                .append(m.path("max_length").asInt()).append(" tokens.</p>\n");
        h.append("<table><tr><th>method</th><th>test accuracy (mean ± sd)</th><th>per seed</th><th>trained %</th><th>s per run</th>")
                .append("<th>forgetting (points)</th><th>int8 accuracy</th><th>int8 s per run</th></tr>\n");
        for (JsonNode s : m.path("summary")) {
            List<String> seeds = new ArrayList<>();
            for (JsonNode r : m.path("runs")) if (r.path("method").asText().equals(s.path("method").asText())) seeds.add(f("%.4f", r.path("test_accuracy").asDouble()));
            h.append("<tr><td>").append(HtmlReport.esc(s.path("method").asText())).append("</td><td>").append(f("%.4f ± %.4f", s.path("mean_accuracy").asDouble(), s.path("sd_accuracy").asDouble()))
                    .append("</td><td>").append(String.join(", ", seeds)).append("</td><td>").append(f("%.3f", s.path("trainable_percent").asDouble()))
                    .append("</td><td>").append(f("%.1f", s.path("mean_seconds").asDouble())).append("</td><td>")
                    .append(s.path("mean_forgetting").isNumber() ? f("%.2f ± %.2f", s.path("mean_forgetting").asDouble(), s.path("sd_forgetting").asDouble()) : "-")
                    .append("</td><td>").append(s.path("mean_int8_accuracy").isNumber() ? f("%.4f", s.path("mean_int8_accuracy").asDouble()) : "-")
                    .append("</td><td>").append(s.path("mean_int8_seconds").isNumber() ? f("%.1f", s.path("mean_int8_seconds").asDouble()) : "-").append("</td></tr>\n");
        }
        h.append("</table>\n");
        XYChart loss = Charts.lines("training loss", "epoch", "mean cross-entropy");
        XYChart front = Charts.lines("accuracy against forgetting, each seed", "forgetting (points of genre-probe accuracy)", "test accuracy");
        boolean anyForgetting = false;
        for (JsonNode r : m.path("runs")) {
            JsonNode losses = r.path("epoch_losses");
            double[] x = new double[losses.size()], y = new double[losses.size()];
            for (int i = 0; i < x.length; i++) {
                x[i] = i + 1;
                y[i] = losses.get(i).asDouble();
            }
            Charts.line(loss, r.path("method").asText() + " seed " + r.path("seed").asLong(), x, y);
            if (r.path("forgetting_probe_accuracy").isNumber()) {
                anyForgetting = true;
                double drop = 100 * (r.path("forgetting_base").asDouble() - r.path("forgetting_probe_accuracy").asDouble());
                Charts.points(front, r.path("method").asText() + " seed " + r.path("seed").asLong(), new double[] {drop}, new double[] {r.path("test_accuracy").asDouble()});
            }
        }
        int images = 0;
        if (!loss.getSeriesMap().isEmpty()) {
            h.append("<h2>Training</h2>\n<img alt=\"training loss\" src=\"").append(Charts.dataUri(loss)).append("\">\n");
            images++;
        }
        if (anyForgetting) {
            h.append("<h2>Accuracy and forgetting</h2>\n<img alt=\"accuracy against forgetting\" src=\"").append(Charts.dataUri(front)).append("\">\n");
            images++;
        }
        h.append("<script>window.addEventListener('load',function(){var all=document.images,ok=0;for(var i=0;i<all.length;i++)if(all[i].complete&&all[i].naturalWidth>0)ok++;")
                .append("document.body.setAttribute('data-images',ok+'/'+all.length);});</script>\n<!-- ").append(images).append(" charts -->\n</body></html>\n");
        Path out = dir.resolve("report.html");
        Files.writeString(out, h.toString());
        return out;
    }

    private static String f(String format, Object... args) {
        return String.format(Locale.ROOT, format, args);
    }
}
