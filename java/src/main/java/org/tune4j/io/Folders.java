package org.tune4j.io;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;

/** The one way a job's, a benchmark's or a test's temporary folder is removed, and a file's partial copy named. */
public final class Folders {
    private Folders() {}

    /** Deletes {@code dir} and everything in it, deepest first; a folder already gone is no error. */
    public static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir, java.nio.file.LinkOption.NOFOLLOW_LINKS)) return;
        try (var paths = Files.walk(dir)) {
            for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }

    /**
     * Where to write {@code file} in full before moving it over {@code file} at once: a name of this process's and this
     * thread's own, beside it. A name shared by every writer (file + ".tmp") let two writers of one file (two commands
     * importing a model on first use at once) write into one partial file and move it while the other still wrote.
     */
    public static Path partialCopyOf(Path file) {
        return file.resolveSibling(file.getFileName() + "." + ProcessHandle.current().pid() + "-" + Thread.currentThread().threadId() + ".tmp");
    }
}
