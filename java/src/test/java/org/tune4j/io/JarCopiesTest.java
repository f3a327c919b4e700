package org.tune4j.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import java.util.zip.CRC32;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tune4j.bindings.NativeLoader;
import org.tune4j.bindings.tune4j_h;
import org.tune4j.testing.ChildJvm;

/**
 * What tune4j copies out of its jar at run time (the native library, the shipped ViT) goes to files of the JVM's own
 * (ARCHITECTURE.md, "Bindings"). tune4j used to write them once to names known in advance and take a file already there
 * at that name and size as its own: another user of the machine could put a library there first, which tune4j then ran.
 * Here such files are put first, garbage of the right sizes, in the temp folder of a JVM of its own: it must ignore them,
 * keep its copies readable by itself only, and leave nothing of its own behind when it exits.
 */
class JarCopiesTest {
    private static final String LIBRARY = NativeLoader.resource("libtune4j.so");

    @Test
    void copiesOutOfTheJarAreTheJvmsOwnAndGoneWhenItExits(@TempDir Path dir) throws Exception {
        Path tmp = Files.createDirectory(dir.resolve("tmp"));
        byte[] library = resource(LIBRARY), vit = resource(ModelFile.SHIPPED);
        Path plantedLibrary = tmp.resolve("tune4j-" + HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(library)).substring(0, 16)).resolve("libtune4j.so");
        CRC32 crc = new CRC32();
        crc.update(vit);
        Path plantedVit = tmp.resolve("tune4j-vit-fmnist-" + Long.toHexString(crc.getValue()) + ".safetensors");
        Files.createDirectories(plantedLibrary.getParent());
        Files.write(plantedLibrary, new byte[library.length]);
        Files.write(plantedVit, new byte[vit.length]);

        List<String> lines = ChildJvm.run(dir, List.of("-Djava.io.tmpdir=" + tmp), Probe.class, List.of(), List.of());

        assertTrue(lines.contains("simd level " + tune4j_h.t4j_simd_level()), "the library ran: " + lines);
        assertTrue(lines.contains("vit depth " + ModelFile.load(Arena.ofAuto(), null).config().depth()), "the shipped ViT loaded: " + lines);
        assertTrue(lines.contains("library rw-------") && lines.contains("checkpoint rw-------"), "owner-only copies: " + lines);
        try (Stream<Path> left = Files.walk(tmp)) {
            assertEquals(Set.of(tmp, plantedLibrary.getParent(), plantedLibrary, plantedVit), left.collect(Collectors.toSet()), "nothing left but what was put there first");
        }
    }

    private static byte[] resource(String name) throws IOException {
        try (InputStream in = JarCopiesTest.class.getResourceAsStream(name)) {
            assertTrue(in != null, name + " on the class path");
            return in.readAllBytes();
        }
    }

    /** Runs the library and loads the shipped ViT, then prints what it ran and its copies' permissions (in a JVM of its own). */
    public static final class Probe {
        public static void main(String[] args) throws Exception {
            System.out.println("simd level " + tune4j_h.t4j_simd_level());
            try (Arena arena = Arena.ofConfined()) {
                System.out.println("vit depth " + ModelFile.load(arena, null).config().depth());
            }
            System.out.println("library " + PosixFilePermissions.toString(Files.getPosixFilePermissions(NativeLoader.extracted("libtune4j.so"))));
            System.out.println("checkpoint " + PosixFilePermissions.toString(Files.getPosixFilePermissions(ModelFile.shippedCheckpoint())));
        }
    }
}
