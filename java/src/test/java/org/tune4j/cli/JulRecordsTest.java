package org.tune4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tune4j.testing.ChildJvm;

/**
 * What Helidon logs through java.util.logging under the tune4j command is one line a record, level and logger first, as
 * the library's own lines (slf4j-simple); a format given on the command line is kept. In a JVM of its own: the JDK reads
 * the format once, and this test JVM's logging has long started.
 */
class JulRecordsTest {
    @Test
    void helidonsRecordsAreOneLineEachUnlessAFormatIsGiven(@TempDir Path dir) throws IOException, InterruptedException {
        assertEquals(List.of("INFO io.helidon.webserver.LoomServer - Started all channels", "WARNING io.helidon.webserver.LoomServer - slow",
                "java.lang.IllegalStateException: why"), probe(dir, List.of()).subList(0, 3));
        assertEquals(List.of("[Started all channels]", "[slow]"), probe(dir, List.of("-Djava.util.logging.SimpleFormatter.format=[%5$s]%n")));
    }

    private static List<String> probe(Path dir, List<String> options) throws IOException, InterruptedException {
        return ChildJvm.run(dir, options, Probe.class, List.of(), List.of());
    }

    /** Sets the command's format as {@link Main#main} does, then logs as Helidon does. */
    public static final class Probe {
        public static void main(String[] args) {
            Main.oneLineJulRecords();
            Logger log = Logger.getLogger("io.helidon.webserver.LoomServer");
            log.info("Started all channels");
            log.log(Level.WARNING, "slow", new IllegalStateException("why"));
        }
    }
}
