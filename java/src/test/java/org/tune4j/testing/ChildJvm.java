package org.tune4j.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs a class's {@code main} in a JVM of its own, on this JVM's Java and class path, and gives back what it printed
 * (stdout and stderr, in {@code dir/child.txt}): for what a JVM does once (DJL's call home, the JDK's logging format).
 * The child must finish within a minute and exit 0 (or the code a test names).
 */
public final class ChildJvm {
    private ChildJvm() {}

    /** {@code main}'s lines, run with {@code jvmOptions}, its {@code args}, and the variables {@code unset} removed from its environment. */
    public static List<String> run(Path dir, List<String> jvmOptions, Class<?> main, List<String> args, List<String> unset) throws IOException, InterruptedException {
        return run(0, dir, jvmOptions, main, args, unset);
    }

    /** As {@link #run(Path, List, Class, List, List)}, for a child that must exit with {@code exitCode}. */
    public static List<String> run(int exitCode, Path dir, List<String> jvmOptions, Class<?> main, List<String> args, List<String> unset) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "--enable-native-access=ALL-UNNAMED"));
        command.addAll(jvmOptions);
        command.addAll(List.of("-cp", System.getProperty("java.class.path"), main.getName()));
        command.addAll(args);
        Path out = dir.resolve("child.txt");
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(out.toFile());
        unset.forEach(pb.environment()::remove);
        Process p = pb.start();
        assertTrue(p.waitFor(1, TimeUnit.MINUTES), main.getSimpleName() + " finished");
        List<String> lines = Files.readAllLines(out);
        assertEquals(exitCode, p.exitValue(), String.join("\n", lines));
        return lines;
    }
}
