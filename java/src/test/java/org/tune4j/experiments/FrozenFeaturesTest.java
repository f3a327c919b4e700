package org.tune4j.experiments;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.lang.foreign.Arena;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.tune4j.backend.CpuBackend;
import org.tune4j.eval.EvaluateText;
import org.tune4j.nn.BertClassifier;
import org.tune4j.nn.BertConfig;
import org.tune4j.nn.BertModel;

/** The job's cache of the frozen encoder's vectors: each text computed once, the vectors the encoder's own. */
class FrozenFeaturesTest {
    @Test
    void eachTextIsComputedOnceAndItsVectorIsTheEncoders() {
        BertConfig small = new BertConfig(20, 16, 2, 2, 32, 16, 2, 1e-12f, "gelu");
        try (Arena arena = Arena.ofShared()) {
            BertClassifier m = new BertClassifier(arena, new BertModel(arena, small, new SplittableRandom(2)), BertClassifier.Pooling.MEAN, 2, new SplittableRandom(2));
            m.trainHeadOnly();
            int[][] ids = {{1, 8, 9}, {1, 10, 11, 12, 13}, {1, 14}};
            FrozenFeatures f = new FrozenFeatures();
            float[][] first = f.pooled(CpuBackend.get(), m, List.of("a", "b", "c"), ids);
            assertEquals(3, f.computed());
            float[][] expected = EvaluateText.pooled(CpuBackend.get(), m, ids, 32);
            for (int i = 0; i < 3; i++) assertArrayEquals(expected[i], first[i], 1e-6f, "text " + i);
            float[][] again = f.pooled(CpuBackend.get(), m, List.of("c", "d", "a", "d"), new int[][] {ids[2], {1, 15, 16}, ids[0], {1, 15, 16}});
            assertEquals(4, f.computed(), "only 'd' is new, and computed once");
            assertSame(first[2], again[0]);
            assertSame(first[0], again[2]);
            assertSame(again[1], again[3]);
            assertThrows(IllegalArgumentException.class, () -> f.pooled(CpuBackend.get(), m, List.of("a"), ids), "3 sequences for 1 text");
            m.setTrainable(true);
            assertThrows(IllegalArgumentException.class, () -> f.pooled(CpuBackend.get(), m, List.of("a"), new int[][] {ids[0]}), "an encoder that trains");
        }
    }
}
