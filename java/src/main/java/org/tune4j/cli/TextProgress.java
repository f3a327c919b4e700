package org.tune4j.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/**
 * Texts done, texts/s and the time left, on the terminal (stderr) while embed or classify works through a corpus; their
 * data goes to stdout. Nothing where stderr is not a terminal (a log file, a pipe), which a bar's redraws would litter.
 */
final class TextProgress implements AutoCloseable {
    private final ProgressBar bar; // null: not shown

    private TextProgress(ProgressBar bar) {
        this.bar = bar;
    }

    /**
     * A bar for {@code input}'s texts, shown where stderr is a terminal: only then are they counted (a regular file read
     * once more for it; -1, not known, for a pipe).
     */
    static TextProgress start(String task, TextInput input) throws java.io.IOException {
        if (!stderrIsTerminal()) return new TextProgress(null);
        return new TextProgress(new ProgressBarBuilder().setTaskName(task).setInitialMax(input.count()).setUnit(" texts", 1).showSpeed().setStyle(ProgressBarStyle.ASCII)
                .setConsumer(new ConsoleProgressBarConsumer(System.err)).build());
    }

    void done(int texts) {
        if (bar != null) bar.stepBy(texts);
    }

    @Override
    public void close() {
        if (bar != null) bar.close();
    }

    /** Whether file descriptor 2 is a terminal (Linux: /proc/self/fd/2 links to a tty or pts device). */
    static boolean stderrIsTerminal() {
        try {
            String target = Files.readSymbolicLink(Path.of("/proc/self/fd/2")).toString();
            return target.startsWith("/dev/pts/") || target.startsWith("/dev/tty");
        } catch (java.io.IOException | UnsupportedOperationException | SecurityException e) {
            return false;
        }
    }
}
