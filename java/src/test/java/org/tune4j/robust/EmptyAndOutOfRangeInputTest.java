package org.tune4j.robust;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.tune4j.backend.CpuBackend;
import org.tune4j.data.FashionMnist;
import org.tune4j.data.ImageDataset;
import org.tune4j.io.ModelFile;
import org.tune4j.nn.VisionTransformer;

/** No images is an error, not a score of 0 or a passed gate; an out-of-range index or a NaN limit is named, not an array error. */
class EmptyAndOutOfRangeInputTest {
    private static void assertRefused(Executable call, String mustMention) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        assertTrue(e.getMessage().contains(mustMention), "'" + e.getMessage() + "' should mention " + mustMention);
    }

    @Test
    void measuresOfNoImagesAreRefused() throws IOException {
        ImageDataset none = FashionMnist.embedded().test().first(0);
        try (Arena arena = Arena.ofConfined()) {
            VisionTransformer vit = ModelFile.load(arena, null);
            assertRefused(() -> Attacks.robustAccuracy(CpuBackend.get(), vit, none, Attacks.Pgd.standard(0.1f, 2), 8, 1), "no images");
        }
        assertRefused(() -> Calibration.of(new double[0], new boolean[0]), "no predictions");
        assertRefused(() -> Gate.compare(new Gate.Measures(new float[0][], null, 0), new Gate.Measures(new float[0][], null, 0), none, Gate.Limits.defaults()),
                "no images");
    }

    @Test
    void outOfRangeArgumentsAreNamed() throws IOException {
        ImageDataset data = FashionMnist.embedded().test().first(20);
        assertRefused(() -> data.subset(new int[] {3, 999}), "index 999");
        assertRefused(() -> data.first(-1), "first -1");
        assertRefused(() -> DataQuality.duplicates(data, data, 4, Double.NaN), "maxPixelDifference");
        assertRefused(() -> DataQuality.labelIssues(new float[1][3], new int[] {5}, 3), "label 5");
    }
}
