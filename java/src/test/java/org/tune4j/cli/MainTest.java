package org.tune4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

class MainTest {
    private static String run(int expectedExit, String... args) {
        StringWriter err = new StringWriter();
        CommandLine cl = Main.commandLine();
        cl.setErr(new PrintWriter(err));
        assertEquals(expectedExit, cl.execute(args), String.join(" ", args));
        return err.toString();
    }

    @Test
    void badOptionValueIsOneLineNamingIt() {
        String err = run(2, "robust", "--embedded", "--method", "sideways");
        assertEquals("tune4j robust: --method must be lora or full, not sideways", err.strip());
    }

    @Test
    void missingFileIsOneLineNamingIt() {
        String err = run(2, "drift", "/nonexistent/stream-images-idx3-ubyte");
        assertTrue(err.startsWith("tune4j drift: ") && err.contains("/nonexistent/stream-images-idx3-ubyte"), err);
        assertEquals(1, err.strip().lines().count(), err);
    }

    @Test
    void cudaDeviceWithoutAGpuIsOneLineSayingWhy() {
        org.tune4j.backend.cuda.CudaStatus s = org.tune4j.backend.cuda.CudaStatus.probe();
        String[][] commands = {{"demo"}, {"eval"}, {"pretrain"}, {"robust"}, {"drift", "/nonexistent/stream"}, {"gate", "a", "b"}};
        if (!s.available()) {
            for (String[] command : commands) {
                String[] args = java.util.Arrays.copyOf(command, command.length + 2);
                args[command.length] = "--device";
                args[command.length + 1] = "cuda";
                String err = run(2, args);
                assertTrue(err.startsWith("tune4j " + command[0] + ": --device cuda: CUDA is not available: ") && err.contains(s.message()), err);
                assertEquals(1, err.strip().lines().count(), err);
            }
        }
        assertTrue(run(2, "gate", "a", "b", "--device", "tpu").contains("--device must be cpu or cuda, not tpu"));
    }
}
