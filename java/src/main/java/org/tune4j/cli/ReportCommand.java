package org.tune4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.tune4j.report.HtmlReport;
import org.tune4j.report.TextReport;
import org.tune4j.report.TextRobustnessReport;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/** {@code tune4j report DIR}: the HTML page of a demo run, from its metrics.json. */
@Command(name = "report", mixinStandardHelpOptions = true,
        description = "Write DIR/report.html from DIR/metrics.json (a tune4j demo's, finetune's or robust-text's output): loss curves, accuracy against "
                + "sparsity, latency against accuracy, corruption heat map, reliability diagram, robustness audit, gates, provenance.")
final class ReportCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "DIR", description = "A demo's output directory.")
    Path dir;

    @Override
    public Integer call() throws Exception {
        JsonNode m = HtmlReport.readMetrics(dir, "demo"); // which run wrote it; a missing or broken file is named
        Path page = TextReport.isTextRun(m) ? TextReport.write(dir) : TextRobustnessReport.isRobustTextRun(m) ? TextRobustnessReport.write(dir) : HtmlReport.write(dir);
        System.out.println("wrote " + page + " (" + HtmlReport.imageCount(page) + " charts)");
        return 0;
    }
}
