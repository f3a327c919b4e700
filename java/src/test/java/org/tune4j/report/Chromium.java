package org.tune4j.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;

/**
 * Headless Chromium opening a report page, for the tests that check a page renders (the browser people open it in;
 * Debian's chromium package; .ci/run installs it and sets TUNE4J_REQUIRE_CHROMIUM so that CI cannot skip them).
 */
public final class Chromium {
    private Chromium() {}

    /** Opens {@code page}: every image loaded (the page's own count) and a screenshot of it is a real PNG. */
    public static void assertEveryImageLoads(Path page, Path dir) throws Exception {
        Path chromium = Path.of("/usr/bin/chromium");
        boolean required = System.getenv("TUNE4J_REQUIRE_CHROMIUM") != null;
        if (!Files.isExecutable(chromium)) {
            if (required) throw new AssertionError("TUNE4J_REQUIRE_CHROMIUM is set but /usr/bin/chromium is missing (apt-get install chromium)");
            Assumptions.abort("SKIPPED: /usr/bin/chromium is not installed (apt-get install chromium; .ci/run installs it)");
        }
        Path png = dir.resolve("report.png");
        String dom = chromium(chromium, dir, "--dump-dom", page.toUri().toString());
        int expected = HtmlReport.imageCount(page);
        assertTrue(dom.contains("data-images=\"" + expected + "/" + expected + "\""),
                "every one of " + expected + " images loaded; the body says " + dom.replaceAll("(?s).*<body([^>]*)>.*", "$1"));
        chromium(chromium, dir, "--screenshot=" + png, "--window-size=1200,3000", page.toUri().toString());
        byte[] bytes = Files.readAllBytes(png);
        assertTrue(bytes.length > 20_000 && bytes[1] == 'P' && bytes[2] == 'N' && bytes[3] == 'G', "a PNG of the page, " + bytes.length + " bytes");
    }

    private static String chromium(Path chromium, Path dir, String... args) throws Exception {
        List<String> cmd = new java.util.ArrayList<>(List.of(chromium.toString(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--user-data-dir=" + dir.resolve("chromium-profile"), "--virtual-time-budget=5000"));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectError(dir.resolve("chromium.log").toFile()).start();
        String out = new String(p.getInputStream().readAllBytes());
        if (!p.waitFor(120, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("chromium did not finish in 120 s");
        }
        assertEquals(0, p.exitValue(), "chromium exit status; its log: " + Files.readString(dir.resolve("chromium.log")));
        return out;
    }
}
