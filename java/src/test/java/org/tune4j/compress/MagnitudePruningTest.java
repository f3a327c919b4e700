package org.tune4j.compress;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.tune4j.backend.Backend;
import org.tune4j.backend.CpuBackend;
import org.tune4j.backend.ReferenceBackend;
import org.tune4j.tensor.Tensor;

/** Per-layer pruning removes the same share of each layer; a global threshold removes the smallest overall. */
class MagnitudePruningTest {
    private static long zeros(Tensor mask) {
        long z = 0;
        for (long i = 0; i < mask.numel(); i++) if (mask.getByte(i) == 0) z++;
        return z;
    }

    @Test
    void perLayerAndGlobalThresholds() {
        try (Arena arena = Arena.ofConfined()) {
            // layer a holds small weights (0.01 .. 0.20), layer b large ones (1 .. 20)
            float[] small = new float[20], large = new float[20];
            for (int i = 0; i < 20; i++) {
                small[i] = (i % 2 == 0 ? 1 : -1) * 0.01f * (i + 1);
                large[i] = (i + 1);
            }
            List<Tensor> layers = List.of(Tensor.of(arena, small, 4, 5), Tensor.of(arena, large, 2, 10));
            for (Backend be : List.of(new ReferenceBackend(), CpuBackend.get())) {
                List<Tensor> per = MagnitudePruning.perLayerMasks(arena, be, layers, 0.5);
                assertEquals(10, zeros(per.get(0)), be.name());
                assertEquals(10, zeros(per.get(1)), be.name());
                List<Tensor> global = MagnitudePruning.globalMasks(arena, be, layers, 0.5);
                assertEquals(20, zeros(global.get(0)), be.name() + ": the small layer goes entirely");
                assertEquals(0, zeros(global.get(1)), be.name() + ": the large layer stays");
                assertTrue(MagnitudePruning.globalThreshold(be, layers, 0.5) < 1f);
            }
            assertThrows(IllegalArgumentException.class, () -> MagnitudePruning.globalMasks(arena, CpuBackend.get(), layers, 1.0));
        }
    }
}
