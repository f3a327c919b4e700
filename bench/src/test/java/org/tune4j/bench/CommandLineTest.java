package org.tune4j.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.api.Test;
import org.tune4j.cli.Main;
import picocli.CommandLine;

/** The bench command reaches the CLI through the ServiceLoader, and rejects bad arguments with a message. */
class CommandLineTest {
    @Test
    void benchIsASubcommand() {
        CommandLine cl = Main.commandLine();
        assertTrue(cl.getSubcommands().containsKey("bench"), cl.getSubcommands().keySet().toString());
        assertTrue(cl.getSubcommands().containsKey("info"));
    }

    @Test
    void unknownSuiteAndZeroThreadsAreErrors() {
        // both are refused before any measurement starts
        assertEquals(2, Main.commandLine().execute("bench", "nosuch"));
        assertEquals(2, Main.commandLine().execute("bench", "--threads", "0", "gemm"));
    }

    @Test
    void notANumberIsAUsageError() {
        CommandLine cl = Main.commandLine();
        StringWriter err = new StringWriter();
        cl.setErr(new PrintWriter(err));
        assertEquals(2, cl.execute("bench", "--threads", "two"));
        assertTrue(err.toString().contains("--threads"), err.toString());
    }
}
