package org.tune4j.bindings;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.lang.foreign.SymbolLookup;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Finds and opens tune4j's native libraries.
 *
 * <p>By default the library is read from the jar ({@code META-INF/native/<os>-<arch>/<name>}), written to a file of
 * this JVM's own in the temp folder ({@code <tmpdir>/tune4j-<random>-<name>}, readable by its owner only), opened from
 * there and deleted when the JVM exits. A file at a name known in advance, shared between JVMs, would let another user
 * of the machine put a library of their own there first, and one user's copy would lock the next user out
 * (ARCHITECTURE.md, "Bindings"). The system property {@code tune4j.native.path=DIR} loads {@code DIR/<name>} instead,
 * for development.
 */
public final class NativeLoader {
    /** System property naming a directory to load native libraries from. */
    public static final String PATH_PROPERTY = "tune4j.native.path";

    private static final ConcurrentHashMap<String, SymbolLookup> OPENED = new ConcurrentHashMap<>();
    private static final ConcurrentHashMap<String, Path> COPIES = new ConcurrentHashMap<>();

    private NativeLoader() {}

    /** The CPU library, libtune4j.so. */
    public static SymbolLookup tune4j() {
        return load("libtune4j.so");
    }

    /** Opens {@code fileName} once per JVM. */
    public static SymbolLookup load(String fileName) {
        return OPENED.computeIfAbsent(fileName, NativeLoader::open);
    }

    /** {@code linux-x86_64}, {@code linux-aarch64}, ...: the jar folder for this platform. */
    public static String platform() {
        String os = System.getProperty("os.name").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch").toLowerCase(Locale.ROOT);
        String osName = os.contains("linux") ? "linux" : os.contains("mac") ? "macos" : os.contains("win") ? "windows" : os;
        String archName = switch (arch) {
            case "amd64", "x86_64" -> "x86_64";
            case "aarch64", "arm64" -> "aarch64";
            default -> arch;
        };
        return osName + "-" + archName;
    }

    private static SymbolLookup open(String fileName) {
        String dir = System.getProperty(PATH_PROPERTY);
        if (dir != null && !dir.isBlank()) {
            Path path = Path.of(dir, fileName).toAbsolutePath();
            if (!Files.isRegularFile(path)) {
                throw new UnsatisfiedLinkError(PATH_PROPERTY + "=" + dir + " has no " + fileName);
            }
            return NativeAccess.open(path);
        }
        Path copy = extracted(fileName);
        try {
            return NativeAccess.open(copy);
        } catch (IllegalArgumentException e) { // dlopen refused it
            throw new UnsatisfiedLinkError("cannot open " + copy + " (" + e.getMessage() + "); if the temp folder is mounted noexec,"
                    + " set -Djava.io.tmpdir=DIR to one that is not, or -D" + PATH_PROPERTY + "=DIR");
        }
    }

    /**
     * The jar's copy of {@code fileName} ({@code META-INF/native/<platform>/}), written once per JVM to a file of its own
     * in the temp folder (see the class comment), deleted when the JVM exits; also for a library that is not opened here
     * but handed to another process (a benchmark's preloaded shim).
     */
    public static Path extracted(String fileName) {
        return COPIES.compute(fileName, (name, old) -> old != null && Files.isRegularFile(old) ? old : privateCopy(name));
    }

    /** Whether this build's jar holds {@code fileName} for this platform (the CUDA library only where nvcc was found). */
    public static boolean inJar(String fileName) {
        return NativeLoader.class.getResource(resource(fileName)) != null;
    }

    /** Where the jar holds {@code fileName} for this platform. */
    public static String resource(String fileName) {
        return "/META-INF/native/" + platform() + "/" + fileName;
    }

    private static Path privateCopy(String fileName) {
        String resource = resource(fileName);
        try (InputStream in = NativeLoader.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new UnsatisfiedLinkError("no " + fileName + " for " + platform() + " in the tune4j jar ("
                        + resource + "); build it with ./mvnw package or set -D" + PATH_PROPERTY + "=DIR");
            }
            // a fresh name, created exclusively, owner-only permissions (POSIX): nobody else can have put it there
            Path copy = Files.createTempFile("tune4j-", "-" + fileName);
            copy.toFile().deleteOnExit();
            try (OutputStream out = Files.newOutputStream(copy)) {
                in.transferTo(out);
            }
            return copy;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot copy " + fileName + " from the jar into the temp folder " + System.getProperty("java.io.tmpdir")
                    + " (" + e + "); set -Djava.io.tmpdir=DIR to a writable folder, or -D" + PATH_PROPERTY + "=DIR", e);
        }
    }
}
