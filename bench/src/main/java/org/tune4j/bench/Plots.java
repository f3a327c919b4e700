package org.tune4j.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.knowm.xchart.style.Styler;

/**
 * PNG bar charts of a run, two per suite: the rate of each kernel row beside each peer's rate on the
 * same shape (peer rate = the row's work / the peer's time), and the same as % of the measured peak.
 */
final class Plots {
    private Plots() {}

    /** Writes {@code <suite>-rate.png} and {@code <suite>-pct-of-peak.png} into dir; returns the files. */
    static List<Path> write(List<BenchRow> rows, Path dir) throws IOException {
        Files.createDirectories(dir);
        Map<String, List<BenchRow>> bySuite = new LinkedHashMap<>();
        for (BenchRow r : rows) bySuite.computeIfAbsent(r.suite(), s -> new ArrayList<>()).add(r);
        List<Path> out = new ArrayList<>();
        for (Map.Entry<String, List<BenchRow>> e : bySuite.entrySet()) {
            out.add(chart(e.getKey(), e.getValue(), false, dir));
            if (e.getValue().stream().anyMatch(r -> r.pctOfPeak() != null)) out.add(chart(e.getKey(), e.getValue(), true, dir));
        }
        return out;
    }

    private static Path chart(String suite, List<BenchRow> rows, boolean pct, Path dir) throws IOException {
        // one category per measured row of ours (kernel, shape, threads, backend); one series per peer
        Map<String, Double> ours = new LinkedHashMap<>();
        Map<String, Map<String, Double>> peers = new LinkedHashMap<>();
        for (BenchRow r : rows) {
            String category = r.kernel() + " " + r.shape() + " t" + r.threads() + (r.backend().startsWith("cpu-avx512") ? "" : " " + r.backend());
            double rate = r.rate();
            double scale = pct ? (r.pctOfPeak() == null ? Double.NaN : r.pctOfPeak() / rate) : 1.0;
            ours.put(category, rate * scale);
            if (r.peerMedianMs() != null && r.speedupVsPeer() != null) {
                double peerRate = r.unit().equals("ns/call") ? r.rate() * r.speedupVsPeer() : rate / r.speedupVsPeer();
                peers.computeIfAbsent(shortName(r.peer()), p -> new LinkedHashMap<>()).put(category, peerRate * scale);
            }
        }
        String unit = rows.getFirst().unit();
        CategoryChart chart = new CategoryChartBuilder().width(1400).height(950)
                .title("tune4j bench " + suite + (pct ? ": % of the measured peak" : ": rate"))
                .yAxisTitle(pct ? "% of peak" : unit).build();
        chart.getStyler().setLegendPosition(Styler.LegendPosition.InsideNE);
        chart.getStyler().setXAxisLabelRotation(90);
        chart.getStyler().setOverlapped(false);
        List<String> categories = new ArrayList<>(ours.keySet());
        chart.addSeries("tune4j", categories, values(categories, ours));
        for (Map.Entry<String, Map<String, Double>> p : peers.entrySet()) chart.addSeries(p.getKey(), categories, values(categories, p.getValue()));
        Path file = dir.resolve(suite + (pct ? "-pct-of-peak" : "-rate") + ".png");
        BitmapEncoder.saveBitmap(chart, file.toString(), BitmapEncoder.BitmapFormat.PNG);
        return file;
    }

    private static List<Double> values(List<String> categories, Map<String, Double> byCategory) {
        List<Double> v = new ArrayList<>();
        for (String c : categories) {
            Double d = byCategory.get(c);
            v.add(d == null || d.isNaN() ? 0.0 : d);
        }
        return v;
    }

    /** A legend-sized peer name. */
    private static String shortName(String peer) {
        return peer.length() > 60 ? peer.substring(0, 57) + "..." : peer;
    }
}
