package org.tune4j.backend;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * For tests of the f32 products on AMX-BF16 tiles ({@code @ExtendWith(AmxTilesOn.class)}): each test runs at the AVX-512
 * level with the tiles on, and only where the CPU (and its OS) gives them; the level, AMX's setting and the threads are
 * put back as the tests before found them.
 */
final class AmxTilesOn implements BeforeEachCallback, AfterEachCallback {
    private SimdLevel levelBefore;
    private boolean amxBefore;

    @Override
    public void beforeEach(ExtensionContext context) {
        levelBefore = CpuBackend.simdLevel();
        amxBefore = CpuBackend.linearAmx();
        CpuBackend.setSimdLevel(SimdLevel.AVX512);
        assumeTrue(CpuBackend.setLinearAmx(true), "this CPU (or its OS) gives no AMX-BF16 tiles");
    }

    @Override
    public void afterEach(ExtensionContext context) {
        CpuBackend.setSimdLevel(levelBefore);
        CpuBackend.setLinearAmx(amxBefore);
        CpuBackend.setThreads(Runtime.getRuntime().availableProcessors());
    }
}
