package org.tune4j.experiments;

import java.util.Map;
import java.util.stream.Collectors;
import org.tune4j.train.TextTrainer;

/** How the text experiments' progress lines (and the CLI's summaries of them) show a set of scores: three decimals, named, rather than Java's toString. */
public final class ProgressText {
    private ProgressText() {}

    /** "msp 0.775, energy 0.782": each score after its name, in the map's order. */
    public static String scores(Map<String, Double> byName) {
        return byName.entrySet().stream().map(e -> String.format("%s %.3f", e.getKey(), e.getValue())).collect(Collectors.joining(", "));
    }

    /** "1 edit 0.100, 3 edits 0.267": an attack's success rate at each edit budget. */
    static String byEdits(Map<Integer, Double> byBudget) {
        return byBudget.entrySet().stream().map(e -> String.format("%d edit%s %.3f", e.getKey(), e.getKey() == 1 ? "" : "s", e.getValue()))
                .collect(Collectors.joining(", "));
    }

    /** "confident learning flagged 84, 27 of them flipped (precision 0.321, recall 0.900)", {@code what} the texts it should find. */
    static String detection(TextRobustness.Detection d, String what) {
        return String.format("%s flagged %d, %d of them %s (precision %.3f, recall %.3f)", d.method(), d.flagged(), d.truePositives(), what, d.precision(), d.recall());
    }

    /** "2 ascent steps of 0.1 from 0.1, no norm bound": FreeLB's settings as its paper names them. */
    static String freeLb(TextTrainer.FreeLb f) {
        return String.format("%d ascent step%s of %s from %s, %s", f.steps(), f.steps() == 1 ? "" : "s", f.stepSize(), f.initMagnitude(),
                f.maxNorm() == 0 ? "no norm bound" : "norm at most " + f.maxNorm());
    }
}
