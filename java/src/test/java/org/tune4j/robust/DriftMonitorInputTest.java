package org.tune4j.robust;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import org.junit.jupiter.api.Test;

/** A NaN statistic (a model with one NaN bias gives NaN confidences) once made the KS walk spin forever. */
class DriftMonitorInputTest {
    private static double[] ramp(int n) {
        double[] v = new double[n];
        for (int i = 0; i < n; i++) v[i] = i / (double) n;
        return v;
    }

    @Test
    void nanInTheReferenceOrABatchIsRefusedNotAHang() {
        assertTimeoutPreemptively(Duration.ofSeconds(10), () -> {
            double[] ref = ramp(100);
            DriftMonitor m = new DriftMonitor(ref);
            double[] batch = ramp(50);
            batch[7] = Double.NaN;
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> m.observe(batch));
            assertTrue(e.getMessage().contains("batch value 7 is NaN"), e.getMessage());
            ref[3] = Double.POSITIVE_INFINITY;
            assertTrue(assertThrows(IllegalArgumentException.class, () -> new DriftMonitor(ref)).getMessage().contains("reference value 3"));
            assertThrows(IllegalArgumentException.class, () -> new DriftMonitor(ramp(100), Double.NaN, 0.25));
            assertThrows(IllegalArgumentException.class, () -> new DriftMonitor(ramp(100), 0.1, Double.POSITIVE_INFINITY));
        });
    }
}
