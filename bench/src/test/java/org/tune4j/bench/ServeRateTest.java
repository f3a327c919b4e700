package org.tune4j.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The saturation rate of {@code bench serve}: answers that come a batch at a time, timed burst to burst. */
class ServeRateTest {
    @Test
    void countsWholeBatchesBetweenBurstStarts() {
        // 5 batches of 32, 0.5 s apart, each batch's answers spread over 62 ms with one 20 ms gap: 4 batches of 32 in 2 s
        long[] t = new long[5 * 32];
        for (int b = 0; b < 5; b++) for (int i = 0; i < 32; i++) t[b * 32 + i] = 1_000_000_000L + b * 500_000_000L + i * 1_300_000L + (i >= 16 ? 20_000_000L : 0);
        assertEquals(64.0, ServeSuite.batchedRate(t), 1e-9);
    }

    @Test
    void evenAnswersAreAStreamAndOneAnswerIsNoRate() {
        assertEquals(2e9 / 2, ServeSuite.batchedRate(new long[] {1, 2, 3}), 1e-3); // every answer its own burst: 2 in 2 ns
        assertTrue(Double.isNaN(ServeSuite.batchedRate(new long[] {5})));
        assertTrue(Double.isNaN(ServeSuite.batchedRate(new long[0])));
    }
}
