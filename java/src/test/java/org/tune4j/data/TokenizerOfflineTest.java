package org.tune4j.data;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.reflect.Field;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
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
        }
    }
}
