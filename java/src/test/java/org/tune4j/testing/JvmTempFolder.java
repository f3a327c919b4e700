package org.tune4j.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A temporary folder shared by the tests of one JVM (JUnit's {@code @TempDir} lives for one class at most), deleted with
 * everything in it when the JVM exits. {@code File.deleteOnExit} deletes only an empty folder: the imported models it
 * was asked to delete (200 MB a JVM) stayed in the temp folder after every test run.
 */
public final class JvmTempFolder {
    private JvmTempFolder() {}

    /** A new folder named {@code prefix}..., gone when the JVM exits. */
    public static Path create(String prefix) throws IOException {
        Path dir = Files.createTempDirectory(prefix);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                org.tune4j.io.Folders.deleteTree(dir);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot delete " + dir, e);
            }
        }, "delete " + dir));
        return dir;
    }
}
