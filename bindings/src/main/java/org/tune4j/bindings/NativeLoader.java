package org.tune4j.bindings;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.foreign.SymbolLookup;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Locale;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Finds and opens tune4j's native libraries.
 *
 * <p>By default the library is read from the jar ({@code META-INF/native/<os>-<arch>/<name>}), written
 * to {@code <tmpdir>/tune4j-<sha256 prefix>/} (so concurrent JVMs and different versions never clash)
 * and opened from there. The system property {@code tune4j.native.path=DIR} loads {@code DIR/<name>}
 * instead, for development.
 */
public final class NativeLoader {
    /** System property naming a directory to load native libraries from. */
    public static final String PATH_PROPERTY = "tune4j.native.path";

    private static final ConcurrentHashMap<String, SymbolLookup> OPENED = new ConcurrentHashMap<>();

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
        return NativeAccess.open(extracted(fileName));
    }

    /**
     * The jar's copy of {@code fileName} ({@code META-INF/native/<platform>/}), written once to the temp folder: for a
     * library that is not opened here but handed to another process (a benchmark's preloaded shim).
     */
    public static Path extracted(String fileName) {
        String resource = "/META-INF/native/" + platform() + "/" + fileName;
        byte[] bytes;
        try (InputStream in = NativeLoader.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new UnsatisfiedLinkError("no " + fileName + " for " + platform() + " in the tune4j jar ("
                        + resource + "); build it with ./mvnw package or set -D" + PATH_PROPERTY + "=DIR");
            }
            bytes = in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + resource, e);
        }
        try {
            String hash = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes)).substring(0, 16);
            Path dir = Path.of(System.getProperty("java.io.tmpdir"), "tune4j-" + hash);
            Path target = dir.resolve(fileName);
            if (!Files.isRegularFile(target) || Files.size(target) != bytes.length) {
                Files.createDirectories(dir);
                // write beside, then move: another JVM may be extracting the same file right now
                Path partial = Files.createTempFile(dir, fileName, ".part");
                Files.write(partial, bytes);
                Files.move(partial, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            }
            return target;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot extract " + fileName + " to " + System.getProperty("java.io.tmpdir"), e);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JDK", e);
        }
    }
}
