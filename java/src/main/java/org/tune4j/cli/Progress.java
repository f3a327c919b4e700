package org.tune4j.cli;

import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import org.tune4j.train.Trainer;

/**
 * A progress bar per epoch on the terminal (stderr): steps done, the time left, the loss and examples a second; for the
 * ViT also each epoch's line (loss, validation accuracy, seconds) on stderr. The bars are drawn only where stderr is a
 * terminal: a log would get a redraw a second; the epoch lines are written either way.
 */
final class Progress implements Trainer.Listener, AutoCloseable {
    private final String task, rate;
    private final boolean epochLines, shown;
    private ProgressBar bar;
    private int epoch = -1;

    /** The ViT's: images a second, an epoch line after each bar. */
    Progress(String task) {
        this(task, "img/s", true);
    }

    private Progress(String task, String rate, boolean epochLines) {
        this.task = task;
        this.rate = rate;
        this.epochLines = epochLines;
        this.shown = TextProgress.stderrIsTerminal();
    }

    /** A text run's bars (sequences a second); no epoch line: the text job prints its own, on stdout, after the bar. */
    static Progress forText(String task) {
        return new Progress(task, "seq/s", false);
    }

    @Override
    public void onStep(int epoch, int step, int steps, float loss, double examplesPerSecond) {
        if (!shown) return;
        if (epoch != this.epoch) {
            close();
            this.epoch = epoch;
            bar = new ProgressBarBuilder().setTaskName(task + " epoch " + (epoch + 1)).setInitialMax(steps)
                    .setStyle(ProgressBarStyle.ASCII).setConsumer(new me.tongfei.progressbar.ConsoleProgressBarConsumer(System.err)).build();
        }
        bar.step();
        bar.setExtraMessage(String.format("loss %.3f, %.0f %s", loss, examplesPerSecond, rate));
    }

    @Override
    public void onEpoch(int epoch, double trainLoss, double valAccuracy, double seconds) {
        close();
        if (epochLines) System.err.printf("%s epoch %d: train loss %.4f, validation accuracy %.4f, %.1f s%n", task, epoch + 1, trainLoss, valAccuracy, seconds);
    }

    @Override
    public void close() {
        if (bar != null) {
            bar.close();
            bar = null;
        }
    }
}
