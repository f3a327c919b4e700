package org.tune4j.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tune4j.backend.TestTensors.assertBitwiseEqual;
import static org.tune4j.backend.TestTensors.assertClose;
import static org.tune4j.backend.TestTensors.random;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * The GEMM's cache blocks set at run time: a pinned setting gives the same bits on one thread and on all of them, a
 * different K block the reference's result within rounding, bad blocks are refused by name; the tuner's choice is
 * one of its candidates, applied, and read back from its cache file; a corrupt cache file is passed over. Both int8
 * stream tiles give the same bits; the built-in table matches by vendor and family; a pinned int8 tile wins.
 */
class GemmTuningTest {
    @AfterEach
    void restore() {
        GemmTuning.set(null, null, null);
        CpuBackend.setThreads(Runtime.getRuntime().availableProcessors());
        CpuBackend.setSimdLevel(SimdLevel.AVX512);
    }

    @Test
    void eachLevelNamesTheTileAProductTakes() {
        CpuBackend.setSimdLevel(SimdLevel.PORTABLE);
        assertEquals("4x8", GemmTuning.tile(1024, 1024));
        assertEquals("4x8", GemmTuning.tile(128, 384));
        if (CpuBackend.setSimdLevel(SimdLevel.AVX2) == SimdLevel.AVX2) assertEquals("6x16", GemmTuning.tile(128, 384));
        if (CpuBackend.setSimdLevel(SimdLevel.AVX512) == SimdLevel.AVX512) {
            assertEquals("12x32", GemmTuning.tile(1024, 1024)); // 8 x 48 would pad 1024 columns to 1056
            assertEquals("8x48", GemmTuning.tile(128, 384)); // 12 x 32 would pad 128 rows to 132
            assertEquals("12x32", GemmTuning.tile(2176, 128)); // 8 x 48 would pad 128 columns to 144
        }
        assertThrows(IllegalArgumentException.class, () -> GemmTuning.tile(0, 5));
    }

    @Test
    void aPinnedSettingGivesTheSameBitsForAnyThreadCount() {
        SplittableRandom rng = new SplittableRandom(5);
        try (Arena arena = Arena.ofConfined()) {
            Tensor a = random(arena, rng, 301, 777), b = random(arena, rng, 259, 777), want = Tensor.zeros(arena, DType.F32, 301, 259);
            new ReferenceBackend().gemm(false, true, 1f, a, b, 0f, want);
            for (GemmTuning.Blocks blocks : new GemmTuning.Blocks[] {new GemmTuning.Blocks(96, 256, 512), new GemmTuning.Blocks(192, 512, 2048)}) {
                GemmTuning.set(blocks, null, "test");
                assertEquals(blocks, GemmTuning.current().blocks());
                Tensor one = Tensor.zeros(arena, DType.F32, 301, 259), all = Tensor.zeros(arena, DType.F32, 301, 259);
                CpuBackend.setThreads(1);
                CpuBackend.get().gemm(false, true, 1f, a, b, 0f, one);
                CpuBackend.setThreads(Math.max(2, Runtime.getRuntime().availableProcessors()));
                CpuBackend.get().gemm(false, true, 1f, a, b, 0f, all);
                assertBitwiseEqual(one, all, blocks + ": 1 thread and all");
                assertClose(want, one, 1e-4, blocks + " against the reference");
            }
        }
    }

    @Test
    void bothInt8StreamTilesGiveTheSameBits() {
        SplittableRandom rng = new SplittableRandom(9);
        try (Arena arena = Arena.ofConfined()) {
            // 1000 x 4500 int8 weights: over the 4 MiB below which the row tile is taken anyway, so the setting decides
            Int8Weights w = Int8Weights.quantize(arena, CpuBackend.get(), random(arena, rng, 1000, 4500));
            for (int rows = 1; rows <= 7; rows++) {
                Tensor x = random(arena, rng, rows, 4500), full = Tensor.zeros(arena, DType.F32, rows, 1000), byRows = Tensor.zeros(arena, DType.F32, rows, 1000);
                GemmTuning.set(null, GemmTuning.Int8StreamTile.FULL, "test");
                CpuBackend.get().int8Linear(x, w, null, Activation.NONE, full);
                GemmTuning.set(null, GemmTuning.Int8StreamTile.ROWS, "test");
                assertEquals(GemmTuning.Int8StreamTile.ROWS, GemmTuning.current().int8StreamTile());
                CpuBackend.setThreads(1);
                CpuBackend.get().int8Linear(x, w, null, Activation.NONE, byRows);
                assertBitwiseEqual(full, byRows, rows + " rows: the full tile and the row tile");
                CpuBackend.setThreads(Math.max(2, Runtime.getRuntime().availableProcessors()));
            }
        }
    }

    @Test
    void theBuiltInTableMatchesAMicroarchitectureByVendorAndFamily() {
        GemmTuning.Known zen5 = GemmTuning.known(new CpuDescription.Identity("AuthenticAMD", "26", "2", "AMD EPYC"), SimdLevel.AVX512);
        assertNotNull(zen5);
        assertEquals(GemmTuning.Int8StreamTile.ROWS, zen5.int8StreamTile());
        assertEquals(new GemmTuning.Blocks(144, 512, 1024), zen5.blocks());
        assertNotNull(GemmTuning.known(new CpuDescription.Identity("AuthenticAMD", "26", "68", "AMD Ryzen 9 9950X"), SimdLevel.AVX512), "any Zen 5 model");
        GemmTuning.Known zen4 = GemmTuning.known(new CpuDescription.Identity("AuthenticAMD", "25", "17", "AMD EPYC 9454"), SimdLevel.AVX512);
        assertNotNull(zen4, "Zen 4");
        assertEquals(new GemmTuning.Blocks(144, 768, 1024), zen4.blocks());
        assertEquals(GemmTuning.Int8StreamTile.FULL, zen4.int8StreamTile());
        assertNull(GemmTuning.known(new CpuDescription.Identity("AuthenticAMD", "25", "33", "AMD EPYC 7763"), SimdLevel.AVX2), "Zen 3 (AVX2 only): the level's own");
        assertNull(GemmTuning.known(new CpuDescription.Identity("AuthenticAMD", "2", "6", "?"), SimdLevel.AVX512), "family 2 is not family 26");
        assertNull(GemmTuning.known(new CpuDescription.Identity("AuthenticAMD", "26", "2", "AMD EPYC"), SimdLevel.AVX2), "measured at AVX-512 only");
        GemmTuning.Known xeon = GemmTuning.known(new CpuDescription.Identity("GenuineIntel", "6", "167", "Intel(R) Xeon(R) Processor"), SimdLevel.AVX512);
        assertNotNull(xeon, "the Xeon measured");
        assertEquals(GemmTuning.Int8StreamTile.ROWS, xeon.int8StreamTile());
        assertNull(GemmTuning.known(new CpuDescription.Identity("GenuineIntel", "6", "143", "Intel(R) Xeon(R) Platinum 8480+"), SimdLevel.AVX512),
                "another Intel model: not measured, the caches decide");
        assertNull(GemmTuning.known(new CpuDescription.Identity("GenuineIntel", "6", "16", "?"), SimdLevel.AVX512), "model 16 is not model 167");
    }

    @Test
    void aCpuOutsideTheTableGetsItsKBlockFromItsL2() {
        GemmTuning.Blocks level = new GemmTuning.Blocks(144, 384, 1024);
        assertEquals(new GemmTuning.Blocks(144, 768, 1024), GemmTuning.fromCaches(1 << 20, level), "1 MiB L2 (Zen 4, Zen 5)");
        assertEquals(new GemmTuning.Blocks(144, 768, 1024), GemmTuning.fromCaches(2 << 20, level), "2 MiB (Xeon): the longest candidate");
        assertEquals(new GemmTuning.Blocks(144, 384, 1024), GemmTuning.fromCaches(512 << 10, level), "512 KiB (Zen 3): 144 x 384 floats is 216 KiB");
        assertEquals(new GemmTuning.Blocks(144, 128, 1024), GemmTuning.fromCaches(64 << 10, level), "a tiny L2: the shortest candidate");
        assertNull(GemmTuning.fromCaches(0, level), "no L2 reported: the level's own");
    }

    @Test
    void aPinnedInt8TileWinsAndABadOneIsRefusedByName(@TempDir Path dir) {
        System.setProperty(GemmTuning.INT8_PIN_PROPERTY, "rows");
        try {
            GemmTuning.Choice c = GemmTuning.applyAtStartup(dir.resolve("none.json"));
            assertEquals(GemmTuning.Int8StreamTile.ROWS, c.int8StreamTile());
            assertTrue(c.source().contains("pinned"), c.source());
            System.setProperty(GemmTuning.INT8_PIN_PROPERTY, "fast");
            assertTrue(assertThrows(IllegalArgumentException.class, () -> GemmTuning.applyAtStartup(dir.resolve("none.json"))).getMessage().contains("'fast'"));
        } finally {
            System.clearProperty(GemmTuning.INT8_PIN_PROPERTY);
        }
    }

    @Test
    void badBlocksAreRefusedByName() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new GemmTuning.Blocks(4, 256, 512)).getMessage().startsWith("mc"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new GemmTuning.Blocks(96, 8, 512)).getMessage().startsWith("kc"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new GemmTuning.Blocks(96, 256, 1 << 20)).getMessage().startsWith("nc"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> GemmTuning.Blocks.parse("96,256")).getMessage().contains("mc,kc,nc"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> GemmTuning.Blocks.parse("96,x,512")).getMessage().contains("integers"));
    }

    @Test
    void theTunersChoiceIsACandidateAppliedAndCached(@TempDir Path dir) throws Exception {
        Path cache = dir.resolve("gemm-tuning.json");
        GemmTuning.Result r = GemmTuning.tune(cache, 0.125); // small shapes: a functional check, not a measurement
        assertTrue(r.trials().stream().anyMatch(t -> t.blocks().equals(r.chosen())), "the choice is one of the trials");
        assertTrue(r.trials().size() >= 10, "kc, mc and nc each tried: " + r.trials().size());
        assertEquals(r.chosen(), GemmTuning.inUse(), "applied");
        // the search's winner is kept only where it beat the level's own again, on the confirming rounds
        if (r.sweepWinner().equals(r.levelDefault())) {
            assertTrue(Double.isNaN(r.confirmedSpeedup()), "nothing to confirm: " + r.confirmedSpeedup());
            assertEquals(r.levelDefault(), r.chosen());
        } else {
            boolean passed = r.confirmedSpeedup() > 1 + GemmTuning.MARGIN_PERCENT / 100.0;
            assertEquals(passed ? r.sweepWinner() : r.levelDefault(), r.chosen(), "confirmed at " + r.confirmedSpeedup());
        }
        GemmTuning.set(null, null, null);
        GemmTuning.Choice again = GemmTuning.applyAtStartup(cache);
        assertEquals(r.chosen(), again.blocks(), "read back from " + cache);
        assertEquals(r.int8Chosen(), again.int8StreamTile(), "int8 read back from " + cache);
        assertEquals(CpuBackend.int8Vnni() ? 2 : 0, r.int8Trials().size(), "both int8 tiles timed where the kernel is VNNI");
        assertTrue(again.source().startsWith("tuned on this CPU"), again.source());
        Files.writeString(cache, "{ not json");
        try (org.tune4j.LogCapture log = new org.tune4j.LogCapture(GemmTuning.class)) {
            GemmTuning.Choice passed = GemmTuning.applyAtStartup(cache);
            assertTrue(passed.source().contains("passed over"), passed.source());
            List<String> warned = log.at(ch.qos.logback.classic.Level.WARN);
            assertEquals(1, warned.size(), warned.toString());
            assertTrue(warned.getFirst().startsWith("the tuning cache " + cache + " is passed over"), warned.getFirst());
            assertEquals(List.of("kernel tuning: " + passed), log.at(ch.qos.logback.classic.Level.DEBUG));
        }
        assertNotNull(GemmTuning.cpuKey());
    }
}
