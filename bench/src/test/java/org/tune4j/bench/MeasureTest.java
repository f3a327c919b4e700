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
        double[] ms = Measure.alternatedBlocks(0, 3, 0, () -> order.add("a"), () -> order.add("b")).medianMs();
        // no warm-up time and no block time: each piece once in the warm-up, then once a block, a before b
        assertEquals(List.of("a", "b", "a", "b", "a", "b", "a", "b"), order);
        assertEquals(2, ms.length);
        assertTrue(ms[0] >= 0 && ms[1] >= 0);
    }

    @Test
    void eachPieceGetsItsOwnMedian() {
        // a sleep lasts at least as long as asked: a lower bound that holds on any machine
        double[] ms = Measure.alternatedBlocks(0, 3, 0, () -> sleep(1), () -> sleep(6)).medianMs();
        assertTrue(ms[0] >= 1, "the first piece's median " + ms[0]);
        assertTrue(ms[1] >= 6, "the second piece's median " + ms[1]);
    }

    @Test
    void theRatioRangeIsOverEachBlocksPairedMedians() {
        // per block, piece 0 against piece 1: 6/2, 4/4, 10/2
        Measure.Blocks b = new Measure.Blocks(new double[] {6, 2}, new double[][] {{6, 4, 10}, {2, 4, 2}});
        double[] range = b.ratioRange(0, 1);
        assertEquals(1.0, range[0], 1e-12);
        assertEquals(5.0, range[1], 1e-12);
        assertEquals(0.2, b.ratioRange(1, 0)[0], 1e-12);
    }

    @Test
    void blocksHoldEachBlocksMedians() {
        int[] calls = {0};
        Measure.Blocks b = Measure.alternatedBlocks(0, 4, 0, () -> calls[0]++, () -> sleep(2));
        assertEquals(5, calls[0], "one warm-up run and one a block");
        assertEquals(4, b.blockMedianMs()[1].length);
        for (double ms : b.blockMedianMs()[1]) assertTrue(ms >= 2, "a block's median of a 2 ms sleep: " + ms);
        double[] range = b.ratioRange(1, 0);
        assertTrue(range[0] <= range[1] && range[0] > 0, "a sleep's time over a counter's: " + range[0] + " .. " + range[1]);
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
