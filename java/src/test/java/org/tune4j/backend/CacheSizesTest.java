package org.tune4j.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * The cache sizes cpuid reports (what blocking can be derived from) against what Linux reports in sysfs for
 * the same CPU, an independent reading of the same hardware.
 */
class CacheSizesTest {
    /** Bytes of cpu0's data or unified cache of {@code level} in sysfs, or -1 when sysfs does not say. */
    private static long sysfs(int level) throws IOException {
        Path dir = Path.of("/sys/devices/system/cpu/cpu0/cache");
        if (!Files.isDirectory(dir)) return -1;
        for (int i = 0; i < 8; i++) {
            Path index = dir.resolve("index" + i);
            if (!Files.isDirectory(index)) break;
            String type = Files.readString(index.resolve("type")).strip();
            if (Integer.parseInt(Files.readString(index.resolve("level")).strip()) != level || type.equals("Instruction")) continue;
            String size = Files.readString(index.resolve("size")).strip();
            long unit = size.endsWith("K") ? 1024 : size.endsWith("M") ? 1 << 20 : 1;
            return Long.parseLong(size.replaceAll("[KM]$", "")) * unit;
        }
        return -1;
    }

    @Test
    void cpuidAgreesWithSysfs() throws IOException {
        assumeTrue(System.getProperty("os.arch").matches("amd64|x86_64"), "cpuid is x86: not run on " + System.getProperty("os.arch"));
        int compared = 0;
        for (int level = 1; level <= 3; level++) {
            long want = sysfs(level), got = CpuBackend.cacheBytes(level);
            if (want <= 0 || got == 0) continue; // one of them does not report this level (a VM may hide L3)
            assertEquals(want, got, "L" + level + " bytes");
            compared++;
        }
        assumeTrue(compared > 0, "neither sysfs nor cpuid reports a cache here: not compared");
        assertThrows(IllegalArgumentException.class, () -> CpuBackend.cacheBytes(4));
    }
}
