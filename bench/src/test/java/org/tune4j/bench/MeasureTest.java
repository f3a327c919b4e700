package org.tune4j.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Alternating blocks: every piece warms up, then runs in each round, in turn, and gets the median of its own runs. */
class MeasureTest {
    @Test
    void alternatesBlocksAfterTheWarmUp() {
        List<String> order = new ArrayList<>();
        double[] ms = Measure.alternatedBlocksMedianMs(0, 3, 0, () -> order.add("a"), () -> order.add("b"));
        // no warm-up time and no block time: each piece once in the warm-up, then once a block, a before b
        assertEquals(List.of("a", "b", "a", "b", "a", "b", "a", "b"), order);
        assertEquals(2, ms.length);
        assertTrue(ms[0] >= 0 && ms[1] >= 0);
    }

    @Test
    void eachPieceGetsItsOwnMedian() {
        // a sleep lasts at least as long as asked: a lower bound that holds on any machine
        double[] ms = Measure.alternatedBlocksMedianMs(0, 3, 0, () -> sleep(1), () -> sleep(6));
        assertTrue(ms[0] >= 1, "the first piece's median " + ms[0]);
        assertTrue(ms[1] >= 6, "the second piece's median " + ms[1]);
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
