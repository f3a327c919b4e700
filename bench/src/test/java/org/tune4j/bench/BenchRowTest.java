package org.tune4j.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The JSON row format that tools read: exactly these fields, with the derived ones computed right. */
class BenchRowTest {
    private static final List<String> FIELDS = List.of("suite", "kernel", "shape", "dtype", "threads", "backend", "median_ms",
            "rate", "unit", "peer", "peer_median_ms", "speedup_vs_peer", "speedup_range", "pct_of_peak");

    @Test
    void rowHasTheDocumentedFieldsInOrder() throws Exception {
        BenchRow row = BenchRow.of("gemm", "sgemm_nn", "2x2x2", 1, "cpu-avx512", 2.0, 4.0e6, "openblas", 3.0, 4.0);
        JsonNode json = new ObjectMapper().valueToTree(row);
        List<String> names = new ArrayList<>();
        for (Iterator<String> it = json.fieldNames(); it.hasNext(); ) names.add(it.next());
        assertEquals(FIELDS, names);
        assertEquals(2.0, json.get("rate").asDouble(), 1e-12, "4e6 flops in 2 ms is 2 GFLOP/s");
        assertEquals(1.5, json.get("speedup_vs_peer").asDouble(), 1e-12);
        assertEquals(50.0, json.get("pct_of_peak").asDouble(), 1e-12);
        assertTrue(json.get("speedup_range").isNull(), "no blocks, no range");
        JsonNode ranged = new ObjectMapper().valueToTree(row.withSpeedupRange(new double[] {1.25, 1.75}));
        assertEquals(1.25, ranged.get("speedup_range").get(0).asDouble(), 1e-12);
        assertEquals(1.75, ranged.get("speedup_range").get(1).asDouble(), 1e-12);
        assertTrue(Table.render(List.of(row.withSpeedupRange(new double[] {1.25, 1.75}))).contains(String.format("%.2fx (%.2f-%.2f)", 1.5, 1.25, 1.75)), "the table shows the range");
    }

    @Test
    void aRangeNeedsASpeedupAndTwoValues() {
        BenchRow noPeer = BenchRow.of("gemm", "sgemm_nn", "2x2x2", 1, "cpu-avx512", 2.0, 4.0e6, "onnxruntime: not built", null, 4.0);
        assertThrows(IllegalArgumentException.class, () -> noPeer.withSpeedupRange(new double[] {1, 2}));
        BenchRow row = BenchRow.of("gemm", "sgemm_nn", "2x2x2", 1, "cpu-avx512", 2.0, 4.0e6, "openblas", 3.0, 4.0);
        assertThrows(IllegalArgumentException.class, () -> row.withSpeedupRange(new double[] {1}));
    }

    @Test
    void aPeerThatDidNotRunHasNoTimeAndSaysWhy() {
        BenchRow row = BenchRow.of("gemm", "sgemm_nn", "2x2x2", 1, "cpu-avx512", 2.0, 4.0e6, "onnxruntime: not built", null, 4.0);
        assertNull(row.peerMedianMs());
        assertNull(row.speedupVsPeer());
        assertTrue(row.peer().contains("not built"));
    }

    @Test
    void medianIsTheMiddleRun() {
        assertEquals(3.0, Measure.median(new double[] {5, 1, 3}));
        assertEquals(2.5, Measure.median(new double[] {4, 1, 3, 2}));
    }

    @Test
    void measureRunsWarmupPlusTheMinimumCount() {
        int[] calls = {0};
        double ms = new Measure(2, 3, 0).medianMs(() -> calls[0]++);
        assertEquals(5, calls[0]);
        assertTrue(ms >= 0, "a median time is never negative: " + ms);
    }
}
