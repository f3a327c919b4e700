package org.tune4j.bindings;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The built library loads from the jar's resources and exports every function of the header. */
class NativeLibraryTest {
    @Test
    void everyHeaderFunctionResolves() {
        for (String name : tune4j_h.FUNCTIONS) {
            assertTrue(NativeAccess.exports(tune4j_h.library(), name), name + " is not exported by libtune4j.so");
        }
    }

    @Test
    void everyHandleLinks() throws Exception {
        for (String name : tune4j_h.FUNCTIONS) {
            assertNotNull(tune4j_h.class.getMethod(name + "$handle").invoke(null), name);
        }
    }

    @Test
    void callsReachTheLibrary() {
        assertEquals(1, tune4j_h.t4j_abi_version());
        tune4j_h.t4j_noop();
        int level = tune4j_h.t4j_simd_level();
        assertTrue(level >= tune4j_h.T4J_LEVEL_PORTABLE && level <= tune4j_h.T4J_LEVEL_AVX512, "level " + level);
        assertTrue(tune4j_h.t4j_peak_fma(1000) > 0);
    }

    @Test
    void readLoopSumsEveryWord() {
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
            long words = 1000; // 125 blocks of 8 words: the loop's unrolled step
            var buf = arena.allocate(8 * words, 64);
            for (long i = 0; i < words; i++) buf.setAtIndex(java.lang.foreign.ValueLayout.JAVA_LONG, i, i + 1);
            int before = tune4j_h.t4j_simd_level();
            try {
                for (int level = tune4j_h.T4J_LEVEL_PORTABLE; level <= tune4j_h.T4J_LEVEL_AVX512; level++) { // those this CPU has
                    tune4j_h.t4j_set_simd_level(level);
                    for (int streams : new int[] {1, 5, 8}) { // 125 lines: 25 a stream of 5, 15 a stream of 8 (the first 960 words)
                        long read = words / 8 / streams * streams * 8; // the words read, a prefix: their sum is read (read + 1) / 2
                        assertEquals(read * (read + 1) / 2, tune4j_h.t4j_peak_read(buf, 8 * words, streams), "level " + level + ", streams " + streams);
                    }
                    assertEquals(0, tune4j_h.t4j_peak_read(buf, 0, 4));
                }
            } finally {
                tune4j_h.t4j_set_simd_level(before);
            }
        }
    }

    @Test
    void platformNameIsTheJarFolder() {
        assertTrue(NativeLoader.platform().matches("[a-z]+-[a-z0-9_]+"), NativeLoader.platform());
    }
}
