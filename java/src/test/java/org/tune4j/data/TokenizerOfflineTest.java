package org.tune4j.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.reflect.Field;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tune4j.testing.ChildJvm;

/**
 * Loading and running a tokenizer does not call home: DJL's binding would ask the cloud metadata address for the
 * machine's id (and on EC2 send it to DJL), and on a machine with a recent GPU pick a CUDA build of its library, which
 * its jar lacks, to download. Run in a JVM of its own, since DJL calls home once per JVM, with DJL's switches cleared
 * from its environment. DJL opens those connections without a proxy, so no {@code ProxySelector} sees them; what
 * shows that the call did not start is DJL's own record of it, {@code Ec2Utils.lastCheckIn}, still 0 (set before the
 * first request; a DJL that renames it fails this test, which then needs a look).
 */
class TokenizerOfflineTest {
    @Test
    void aTokenizerDoesNotCallHomeAndTakesTheCpuLibrary(@TempDir Path dir) throws IOException, InterruptedException {
        Path tokenizer = dir.resolve("tokenizer.json");
        Files.writeString(tokenizer, "{\"model\":{\"type\":\"WordLevel\",\"vocab\":{\"<unk>\":0,\"hello\":1},\"unk_token\":\"<unk>\"},\"pre_tokenizer\":{\"type\":\"Whitespace\"}}");
        List<String> lines = ChildJvm.run(dir, List.of(), Probe.class, List.of(tokenizer.toString()),
                List.of(TextTokenizer.DJL_TELEMETRY, TextTokenizer.DJL_NATIVE_FLAVOR, "DJL_OFFLINE"));
        assertTrue(lines.contains("ids [1, 0]"), "the tokenizer ran: " + lines);
        assertTrue(lines.contains("called home at 0"), "DJL did not start its call home: " + lines);
        assertTrue(lines.contains("flavor cpu"), "DJL takes the CPU build of its library, whatever GPU the machine has: " + lines);
    }

    /**
     * Without a writable home folder DJL would copy its native code into {@code <tmpdir>/.djl.ai}, a folder every user of
     * the machine shares (one could put a library there first; the first user's copy locks the others out): the copy goes
     * to a folder of the JVM's own instead, owner-only, gone when it exits. (As root, which the tests may run as, a
     * folder's permissions do not stop a write: the home here is a folder that does not exist.)
     */
    @Test
    void withoutAWritableHomeTheNativeCodeGoesToAFolderOfTheJvmsOwn(@TempDir Path dir) throws IOException, InterruptedException {
        Path tokenizer = dir.resolve("tokenizer.json"), tmp = Files.createDirectory(dir.resolve("tmp"));
        Files.writeString(tokenizer, "{\"model\":{\"type\":\"WordLevel\",\"vocab\":{\"<unk>\":0,\"hello\":1},\"unk_token\":\"<unk>\"},\"pre_tokenizer\":{\"type\":\"Whitespace\"}}");
        List<String> lines = ChildJvm.run(dir, List.of("-Duser.home=" + dir.resolve("no-home"), "-Djava.io.tmpdir=" + tmp), Probe.class,
                List.of(tokenizer.toString()), List.of(TextTokenizer.DJL_CACHE, TextTokenizer.DJL_ENGINE_CACHE));
        assertTrue(lines.contains("ids [1, 0]"), "the tokenizer ran: " + lines);
        assertTrue(lines.stream().anyMatch(l -> l.startsWith("engine cache " + tmp.resolve("tune4j-djl-")) && l.endsWith(" rwx------")), "a folder of its own: " + lines);
        try (Stream<Path> left = Files.list(tmp)) {
            assertEquals(List.of(), left.toList(), "nothing left in the temp folder, no shared .djl.ai");
        }
    }

    /** Loads the tokenizer named by its argument and encodes a text, then prints what DJL did (in a JVM of its own). */
    public static final class Probe {
        public static void main(String[] args) throws Exception {
            try (TextTokenizer t = TextTokenizer.load(Path.of(args[0]), 8)) {
                System.out.println("ids " + Arrays.toString(t.ids("hello stranger")));
            }
            Field lastCheckIn = Class.forName("ai.djl.util.Ec2Utils").getDeclaredField("lastCheckIn");
            lastCheckIn.setAccessible(true);
            System.out.println("called home at " + lastCheckIn.getLong(null));
            System.out.println("flavor " + System.getProperty(TextTokenizer.DJL_NATIVE_FLAVOR));
            String cache = System.getProperty(TextTokenizer.DJL_ENGINE_CACHE);
            if (cache != null) System.out.println("engine cache " + cache + " " + PosixFilePermissions.toString(Files.getPosixFilePermissions(Path.of(cache))));
        }
    }
}
