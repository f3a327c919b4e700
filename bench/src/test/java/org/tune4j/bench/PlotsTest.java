package org.tune4j.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The charts of a run are real PNG images, two per suite with a peak. */
class PlotsTest {
    @Test
    void writesReadablePngsPerSuite(@TempDir Path dir) throws Exception {
        List<BenchRow> rows = List.of(
                BenchRow.of("gemm", "sgemm_nn", "64x64x64", 1, "cpu-avx512", 1.0, 5.0e8, "openblas", 1.2, 100),
                BenchRow.of("gemm", "sgemm_nn", "64x64x64", 1, "cpu-avx512", 1.0, 5.0e8, "onnxruntime: not built", null, 100),
                BenchRow.of("sparse", "csr_linear", "8x8x8 90%", 2, "cpu-avx2", 0.5, 1.0e8, "dense", 1.0, 200));
        List<Path> files = Plots.write(rows, dir);
        assertEquals(4, files.size(), files.toString());
        for (Path f : files) {
            BufferedImage img = ImageIO.read(f.toFile());
            assertNotNull(img, f + " is not an image");
            assertTrue(img.getWidth() > 100 && img.getHeight() > 100);
        }
    }
}
