package org.tune4j.report;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.knowm.xchart.XYChart;

/**
 * The page of a {@code tune4j robust-text} run, from its metrics.json: the drift timeline (each batch's smallest p-value
 * against the alert level, the newer era's stream and the older era's batches), the OOD ROC curves, the leakage probes,
 * poisoning before and after the defence, the evasion attack by budget with examples of successful edits, the continual
 * update, and the evidence gate's verdicts.
 */
public final class TextRobustnessReport {
    private TextRobustnessReport() {}

    /** Whether {@code metrics} is a robust-text run's (its runs carry "drift"). */
    public static boolean isRobustTextRun(JsonNode metrics) {
        return metrics.path("runs").isArray() && !metrics.path("runs").isEmpty() && metrics.path("runs").get(0).has("drift");
    }

    /** Reads {@code dir/metrics.json} (a robust-text run's) and writes {@code dir/report.html}. */
    public static Path write(Path dir) throws IOException {
        JsonNode m = HtmlReport.readMetrics(dir, "robust-text");
        if (m == null || !isRobustTextRun(m)) throw new IOException(dir.resolve("metrics.json") + " is not a tune4j robust-text run's metrics (no runs with drift)");
        JsonNode runs = m.path("runs");
        StringBuilder h = new StringBuilder("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>tune4j robust-text report</title><style>")
                .append("body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1000px;color:#222}table{border-collapse:collapse;margin:1em 0}")
                .append("td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}")
                .append("td.t{text-align:left;font-size:90%}img{display:block;margin:1em 0;border:1px solid #eee}.fail{color:#b00}</style></head>\n<body>\n")
                .append("<h1>tune4j: robustness of a fine-tuned spam filter</h1>\n<p>").append(HtmlReport.esc(m.path("model").asText())).append(", LoRA on the older ")
                .append("SpamAssassin mail (").append(m.path("older_era").asInt()).append(" messages; newer ").append(m.path("newer_era").asInt()).append(", hard ham ")
                .append(m.path("hard_ham").asInt()).append("), ").append(runs.size()).append(" seeds.</p>\n");
        int images = 0;

        h.append("<h2>Drift</h2>\n<table><tr><th>seed</th><th>accuracy, older era</th><th>newer era</th><th>alert after (messages)</th><th>false alarms</th></tr>\n");
        XYChart timeline = Charts.lines("drift: each batch's smallest p-value (higher is stronger evidence)", "messages seen", "-log10 p");
        double alertLine = -Math.log10(0.001 / 3);
        for (JsonNode r : runs) {
            JsonNode d = r.path("drift");
            h.append(row(r.path("seed").asText(), f("%.4f", d.path("old_accuracy").asDouble()), f("%.4f", d.path("new_accuracy").asDouble()),
                    d.path("messages_to_alert").asInt() < 0 ? "never" : d.path("messages_to_alert").asText(), d.path("false_alarms").asInt() + " of " + d.path("era_batches").asInt()));
            int batch = m.path("options").path("batch").asInt(100);
            Charts.line(timeline, "newer era, seed " + r.path("seed").asText(), messages(d.path("stream"), batch), minusLogMinP(d.path("stream")));
            Charts.points(timeline, "older era, seed " + r.path("seed").asText(), messages(d.path("era"), batch), minusLogMinP(d.path("era")));
        }
        h.append("</table>\n<p>Alert level: -log10(0.001 / 3) = ").append(f("%.2f", alertLine)).append(" (the Bonferroni-corrected 0.1% over the three tests).</p>\n");
        h.append(img("drift timeline", timeline));
        images++;

        h.append("<h2>Out of distribution</h2>\n<table><tr><th>score</th><th>far (Brown) AUROC, mean</th><th>near (hard ham) AUROC, mean</th></tr>\n");
        JsonNode first = runs.get(0).path("ood");
        for (Iterator<String> it = first.path("far_auroc").fieldNames(); it.hasNext(); ) {
            String s = it.next();
            h.append(row(s, f("%.4f", mean(runs, "ood", "far_auroc", s)), f("%.4f", mean(runs, "ood", "near_auroc", s))));
        }
        h.append("</table>\n");
        for (String kind : List.of("far", "near")) {
            XYChart roc = Charts.lines("ROC, " + (kind.equals("far") ? "Brown passages" : "hard ham") + " against the older era's test (seed " + runs.get(0).path("seed").asText() + ")",
                    "false positive rate", "true positive rate");
            for (Iterator<Map.Entry<String, JsonNode>> it = first.path(kind + "_roc").fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                Charts.line(roc, e.getKey(), array(e.getValue().get(0)), array(e.getValue().get(1)));
            }
            h.append(img(kind + " ROC curves", roc));
            images++;
        }

        JsonNode q = runs.get(0).path("quality");
        h.append("<h2>Leakage and data quality</h2>\n<p>Each field probed alone against the label (5-fold naive Bayes, balanced accuracy; flagged at 0.90).</p>\n")
                .append("<table><tr><th>raw mail header</th><th>balanced accuracy</th><th>messages with it</th><th>flagged</th><th>example</th></tr>\n");
        for (JsonNode p : q.path("raw_fields")) {
            h.append("<tr><td>").append(HtmlReport.esc(p.path("field").asText())).append("</td><td>").append(f("%.3f", p.path("balanced_accuracy").asDouble())).append("</td><td>")
                    .append(p.path("present").asInt()).append("</td><td").append(p.path("flagged").asBoolean() ? " class=\"fail\">yes" : ">no").append("</td><td class=\"t\">")
                    .append(HtmlReport.esc(p.path("example").asText())).append("</td></tr>\n");
        }
        h.append("</table>\n<table><tr><th>cleaned task: metadata left in the text</th><th>balanced accuracy</th><th>texts with it</th><th>flagged</th></tr>\n");
        for (JsonNode p : q.path("cleaned_fields")) {
            h.append(row(p.path("field").asText(), f("%.3f", p.path("balanced_accuracy").asDouble()), p.path("present").asText(), p.path("flagged").asBoolean() ? "yes" : "no"));
        }
        h.append("</table>\n<p>Near-duplicates of training texts (MinHash, Jaccard at least 0.8): ").append(q.path("near_duplicates_old_test").asInt())
                .append(" in the older era's test, ").append(q.path("near_duplicates_new").asInt()).append(" in the newer era; label issues in the test: ")
                .append(q.path("label_issues").asInt()).append(". ").append(q.path("flipped").asInt()).append(" training labels flipped, found by confident learning ")
                .append("on cross-fitted probabilities: precision / recall ").append(detection(q.path("label_flip"))).append(" (").append(q.path("train_label_issues").asInt())
                .append(" issues on the unflipped set).</p>\n").append(list(q.path("duplicate_examples"))).append(list(q.path("label_issue_examples")));

        h.append("<h2>Poisoning</h2>\n<table><tr><th>seed</th><th>poisoned</th><th>clean accuracy</th><th>poisoned model</th><th>attack success</th><th>trigger alone (clean model)</th>")
                .append("<th>spectral: precision / recall</th><th>clustering: precision / recall</th><th>removed</th><th>defended accuracy</th><th>defended attack success</th></tr>\n");
        for (JsonNode r : runs) {
            JsonNode p = r.path("poison");
            if (p.isMissingNode() || p.isNull()) continue;
            h.append(row(r.path("seed").asText(), p.path("poisoned").asInt() + " of " + p.path("train_size").asInt(), f("%.4f", p.path("clean_accuracy").asDouble()),
                    f("%.4f", p.path("poisoned_accuracy").asDouble()), f("%.3f", p.path("attack_success").asDouble()), f("%.3f", p.path("clean_model_trigger_flip").asDouble()),
                    detection(p.path("detections").get(0)), detection(p.path("detections").get(1)), p.path("removed").asText(), f("%.4f", p.path("defended_accuracy").asDouble()),
                    f("%.3f", p.path("defended_attack_success").asDouble())));
        }
        h.append("</table>\n");

        h.append("<h2>Evasion</h2>\n<table><tr><th>seed, budget</th><th>attack success</th><th>its edits after normalisation</th><th>attacking normalisation + model</th>")
                .append("<th>FreeLB-trained model</th></tr>\n");
        List<String> examples = new ArrayList<>();
        for (JsonNode r : runs) {
            JsonNode e = r.path("evasion");
            if (e.isMissingNode() || e.isNull()) continue;
            for (Iterator<String> it = e.path("success").fieldNames(); it.hasNext(); ) {
                String b = it.next();
                h.append(row("seed " + r.path("seed").asText() + ", " + b + " edits", f("%.3f", e.path("success").path(b).asDouble()),
                        f("%.3f", e.path("success_after_normalization").path(b).asDouble()), f("%.3f", e.path("adaptive_success_against_normalization").path(b).asDouble()),
                        e.path("adversarial_success").isObject() ? f("%.3f", e.path("adversarial_success").path(b).asDouble()) : "-"));
            }
            e.path("examples").forEach(x -> examples.add(x.asText()));
        }
        h.append("</table>\n<p>Successful edits (zero-width spaces shown as &lt;ZWSP&gt;):</p>\n").append(list(examples));

        h.append("<h2>Compression</h2>\n<table><tr><th>seed, model</th><th>test accuracy</th><th>newer era</th><th>evasion success by budget</th><th>batch 1, 128 tokens</th>")
                .append("<th>gate against f32</th></tr>\n");
        for (JsonNode r : runs) {
            for (JsonNode v : r.path("compression")) {
                List<String> ev = new ArrayList<>();
                v.path("evasion_success").fields().forEachRemaining(e -> ev.add(e.getKey() + ": " + f("%.3f", e.getValue().asDouble())));
                JsonNode g = v.path("gate");
                h.append(row("seed " + r.path("seed").asText() + ", " + v.path("name").asText() + " (" + v.path("what").asText() + ")", f("%.4f", v.path("accuracy").asDouble()),
                        f("%.4f", v.path("newer_accuracy").asDouble()), String.join(", ", ev), f("%.2f ms", v.path("batch1_ms").asDouble()),
                        g.isObject() ? (g.path("passed").asBoolean() ? "passes" : "fails") : "-"));
            }
        }
        h.append("</table>\n");

        h.append("<h2>Continual update</h2>\n<table><tr><th>seed</th><th>newer: as trained</th><th>updated</th><th>both eras from the start</th><th>older: as trained</th>")
                .append("<th>updated</th><th>both eras</th></tr>\n");
        for (JsonNode r : runs) {
            JsonNode u = r.path("update");
            if (u.isMissingNode() || u.isNull()) continue;
            h.append(row(r.path("seed").asText(), f("%.4f", u.path("original_new").asDouble()), f("%.4f", u.path("updated_new").asDouble()), f("%.4f", u.path("joint_new").asDouble()),
                    f("%.4f", u.path("original_old").asDouble()), f("%.4f", u.path("updated_old").asDouble()), f("%.4f", u.path("joint_old").asDouble())));
        }
        h.append("</table>\n");

        h.append("<h2>The gate's evidence</h2>\n");
        for (JsonNode r : runs) {
            gate(h, "seed " + r.path("seed").asText() + ": the update against the model before it, on the older era's test", r.path("update").path("gate_on_older"));
            gate(h, "seed " + r.path("seed").asText() + ": the FreeLB-trained model against the plain one", r.path("evasion").path("adversarial_gate"));
            for (JsonNode v : r.path("compression")) gate(h, "seed " + r.path("seed").asText() + ": " + v.path("name").asText() + " against f32", v.path("gate"));
        }
        h.append("<script>window.addEventListener('load',function(){var all=document.images,ok=0;for(var i=0;i<all.length;i++)if(all[i].complete&&all[i].naturalWidth>0)ok++;")
                .append("document.body.setAttribute('data-images',ok+'/'+all.length);});</script>\n<!-- ").append(images).append(" charts -->\n</body></html>\n");
        Path out = dir.resolve("report.html");
        Files.writeString(out, h.toString());
        return out;
    }

    private static void gate(StringBuilder h, String title, JsonNode g) {
        if (g.isMissingNode() || g.isNull()) return;
        h.append("<h3>").append(HtmlReport.esc(title)).append(": ").append(g.path("passed").asBoolean() ? "passes" : "<span class=\"fail\">fails</span>").append("</h3>\n");
        List<String> lines = new ArrayList<>();
        lines.add(g.path("overall").asText());
        g.path("slices").forEach(s -> lines.add(s.asText()));
        g.path("reasons").forEach(s -> lines.add("fails: " + s.asText()));
        h.append(list(lines));
    }

    private static String detection(JsonNode d) {
        return d == null ? "-" : f("%.2f / %.2f", d.path("precision").asDouble(Double.NaN), d.path("recall").asDouble(Double.NaN));
    }

    private static double mean(JsonNode runs, String part, String map, String key) {
        double s = 0;
        for (JsonNode r : runs) s += r.path(part).path(map).path(key).asDouble();
        return s / runs.size();
    }

    private static double[] messages(JsonNode reports, int batch) {
        double[] x = new double[reports.size()];
        for (int i = 0; i < x.length; i++) x[i] = (i + 1) * batch;
        return x;
    }

    private static double[] minusLogMinP(JsonNode reports) {
        double[] y = new double[reports.size()];
        for (int i = 0; i < y.length; i++) {
            JsonNode r = reports.get(i);
            double p = Math.min(r.path("embedding_p").asDouble(), Math.min(r.path("confidence_p").asDouble(), r.path("label_mix_p").asDouble()));
            y[i] = -Math.log10(Math.max(p, 1e-30)); // a p of 0 (below double's range) drawn at 30
        }
        return y;
    }

    private static double[] array(JsonNode a) {
        double[] x = new double[a.size()];
        for (int i = 0; i < x.length; i++) x[i] = a.get(i).asDouble();
        return x;
    }

    private static String row(String... cells) {
        StringBuilder sb = new StringBuilder("<tr>");
        for (String c : cells) sb.append("<td>").append(HtmlReport.esc(c)).append("</td>");
        return sb.append("</tr>\n").toString();
    }

    private static String list(JsonNode items) {
        List<String> l = new ArrayList<>();
        items.forEach(x -> l.add(x.asText()));
        return list(l);
    }

    private static String list(List<String> items) {
        if (items.isEmpty()) return "";
        StringBuilder sb = new StringBuilder("<ul>\n");
        for (String s : items) sb.append("<li>").append(HtmlReport.esc(s)).append("</li>\n");
        return sb.append("</ul>\n").toString();
    }

    private static String img(String alt, XYChart c) throws IOException {
        return "<img alt=\"" + alt + "\" src=\"" + Charts.dataUri(c) + "\">\n";
    }

    private static String f(String format, Object... v) {
        return String.format(Locale.ROOT, format, v);
    }
}
