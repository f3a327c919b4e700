package org.tune4j.bench;

import java.util.List;

/** The rows as a fixed-width text table. */
final class Table {
    private Table() {}

    static String render(List<BenchRow> rows) {
        StringBuilder sb = new StringBuilder();
        String fmt = "%-5s %-16s %-30s %3s %-12s %10s %9s %-8s %6s %10s %18s  %s%n";
        sb.append(String.format(fmt, "suite", "kernel", "shape", "thr", "backend", "median_ms", "rate", "unit", "%peak",
                "peer_ms", "speedup", "peer"));
        for (BenchRow r : rows) {
            sb.append(String.format(fmt, r.suite(), r.kernel(), r.shape(), r.threads(), r.backend(), ms(r.medianMs()),
                    String.format("%.1f", r.rate()), r.unit(), r.pctOfPeak() == null ? "-" : String.format("%.1f", r.pctOfPeak()),
                    r.peerMedianMs() == null ? "-" : ms(r.peerMedianMs()),
                    speedup(r), r.peer()));
        }
        return sb.toString();
    }

    /** 1.24x, with the lowest and highest of a block after it where the row has them: 1.24x (1.10-1.35). */
    private static String speedup(BenchRow r) {
        if (r.speedupVsPeer() == null) return "-";
        String s = String.format("%.2fx", r.speedupVsPeer());
        return r.speedupRange() == null ? s : s + String.format(" (%.2f-%.2f)", r.speedupRange()[0], r.speedupRange()[1]);
    }

    private static String ms(double v) {
        return v >= 1 ? String.format("%.2f", v) : String.format("%.6f", v);
    }
}
