package org.tune4j.cli;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tune4j.testing.ChildJvm;

/**
 * A native library that cannot be copied out of the jar (a temp folder that does not exist or is not writable) fails the
 * class that loads it as it initializes, an Error that passes picocli's handlers: the command says what to set, in one
 * line, and exits 2, not with the JVM's stack trace and its exit 1 (which means "regressed" here). In a JVM of its own,
 * since a class initializes once.
 */
class NativeLibraryUnloadableTest {
    @Test
    void aTempFolderThatCannotTakeTheLibraryIsOneLineAndExitTwo(@TempDir Path dir) throws IOException, InterruptedException {
        List<String> lines = ChildJvm.run(Main.EXIT_USAGE, dir, List.of("-Djava.io.tmpdir=" + dir.resolve("missing")), Main.class, List.of("info"), List.of());
        assertTrue(lines.stream().anyMatch(l -> l.startsWith("tune4j: cannot copy libtune4j.so from the jar into the temp folder " + dir.resolve("missing"))
                && l.endsWith("set -Djava.io.tmpdir=DIR to a writable folder, or -Dtune4j.native.path=DIR")), String.join("\n", lines));
        assertTrue(lines.stream().noneMatch(l -> l.startsWith("\tat ") || l.startsWith("Exception in thread")), "no stack trace: " + lines);
    }
}
