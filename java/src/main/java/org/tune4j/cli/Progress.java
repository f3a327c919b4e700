package org.tune4j.cli;

import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import org.tune4j.train.Trainer;

/** A progress bar per epoch on the terminal (stderr): loss, images/s; the epoch's validation accuracy. */
final class Progress implements Trainer.Listener, AutoCloseable {
    private final String task;
    private ProgressBar bar;
    private int epoch = -1;

    Progress(String task) {
        this.task = task;
    }

    @Override
    public void onStep(int epoch, int step, int steps, float loss, double imagesPerSecond) {
        if (epoch != this.epoch) {
            close();
            this.epoch = epoch;
            bar = new ProgressBarBuilder().setTaskName(task + " epoch " + (epoch + 1)).setInitialMax(steps)
                    .setStyle(ProgressBarStyle.ASCII).setConsumer(new me.tongfei.progressbar.ConsoleProgressBarConsumer(System.err)).build();
        }
        bar.step();
        bar.setExtraMessage(String.format("loss %.3f, %.0f img/s", loss, imagesPerSecond));
    }

    @Override
    public void onEpoch(int epoch, double trainLoss, double valAccuracy, double seconds) {
        close();
        System.err.printf("%s epoch %d: train loss %.4f, validation accuracy %.4f, %.1f s%n", task, epoch + 1, trainLoss, valAccuracy, seconds);
    }

    @Override
    public void close() {
        if (bar != null) {
            bar.close();
            bar = null;
        }
    }
}
