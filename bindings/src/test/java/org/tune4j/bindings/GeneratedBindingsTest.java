package org.tune4j.bindings;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.tune4j.bindings.gen.BindingsGenerator;

/** The committed bindings are exactly what the generator makes from the header today. */
class GeneratedBindingsTest {
    static Path headerDir() {
        return Path.of(System.getProperty("tune4j.header.dir", "../native/include"));
    }

    @Test
    void committedBindingsMatchTheHeader() throws IOException {
        String header = Files.readString(headerDir().resolve("tune4j.h"));
        String expected = BindingsGenerator.generate(header, "tune4j.h", "org.tune4j.bindings", "tune4j_h", "libtune4j.so");
        String committed = Files.readString(Path.of("src/main/java/org/tune4j/bindings/tune4j_h.java"));
        assertEquals(expected, committed, "tune4j_h.java is stale: regenerate it (bindings/README.md)");
    }

    @Test
    void committedCudaBindingsMatchTheCudaHeader() throws IOException {
        Path dir = Path.of(System.getProperty("tune4j.cuda.header.dir", "../kernels/include"));
        String header = Files.readString(dir.resolve("tune4j_cuda.h"));
        String expected = BindingsGenerator.generate(header, "tune4j_cuda.h", "org.tune4j.bindings", "tune4j_cuda_h", "libtune4j_cuda.so");
        String committed = Files.readString(Path.of("src/main/java/org/tune4j/bindings/tune4j_cuda_h.java"));
        assertEquals(expected, committed, "tune4j_cuda_h.java is stale: regenerate it (bindings/README.md)");
        long prototypes = header.lines().filter(l -> l.matches("^[\\w ]+\\*? ?t4j_cuda_\\w+\\(.*\\);$")).count();
        assertTrue(prototypes >= 20, "expected the CUDA header's prototypes, found " + prototypes);
        assertEquals(prototypes, tune4j_cuda_h.FUNCTIONS.size());
    }

    @Test
    void everyPrototypeIsBound() throws IOException {
        String header = Files.readString(headerDir().resolve("tune4j.h"));
        long prototypes = header.lines().filter(l -> l.matches("^(T4J_SHORT )?[\\w ]+\\*? ?t4j_\\w+\\(.*\\);$")).count();
        assertTrue(prototypes >= 10, "expected the header's prototypes, found " + prototypes);
        assertEquals(prototypes, tune4j_h.FUNCTIONS.size());
    }

    @Test
    void unreadablePrototypeIsAnError() {
        String header = "int32_t t4j_split(int64_t a,\n    int64_t b);\n";
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> BindingsGenerator.generate(header, "x.h", "p", "x_h", "libx.so"));
        assertTrue(e.getMessage().contains("t4j_split"), e.getMessage());
    }
}
