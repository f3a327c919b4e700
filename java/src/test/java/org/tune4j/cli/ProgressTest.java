package org.tune4j.cli;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import org.junit.jupiter.api.Test;

/** {@link Progress}: where stderr is not a terminal (a log, a pipe) no bar is drawn; the ViT's epoch lines still are. */
class ProgressTest {
    @Test
    void aLogGetsTheEpochLinesAndNoRedraws() {
        assertFalse(TextProgress.stderrIsTerminal(), "the forked test JVM's stderr is a pipe or a file, as a log's is");
        PrintStream saved = System.err;
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        System.setErr(new PrintStream(err, true, UTF_8)); // where a bar would be drawn: each Progress makes its bar on the first step
        try (Progress vit = new Progress("pretrain"); Progress text = Progress.forText("lora")) {
            for (int step = 0; step < 3; step++) {
                vit.onStep(0, step, 3, 1.25f, 100);
                text.onStep(0, step, 3, 1.25f, 100);
            }
            vit.onEpoch(0, 0.5, 0.75, 1.5);
            text.onEpoch(0, 0.5, Double.NaN, 1.5);
        } finally {
            System.setErr(saved);
        }
        assertEquals(String.format("pretrain epoch 1: train loss %.4f, validation accuracy %.4f, %.1f s%n", 0.5, 0.75, 1.5), err.toString(UTF_8));
    }
}
