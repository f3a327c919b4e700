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

    /** A sentence-transformers folder whose modules embed cannot follow (a Dense after pooling) is refused by name, before the model loads. */
    @Test
    void embedRefusesModulesItCannotFollow(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws java.io.IOException {
        java.nio.file.Files.writeString(dir.resolve("modules.json"), "[{\"path\": \"\", \"type\": \"sentence_transformers.models.Transformer\"}, "
                + "{\"path\": \"2_Dense\", \"type\": \"sentence_transformers.models.Dense\"}]");
        String err = run(2, "embed", "--model", dir.toString(), "hello");
        assertTrue(err.contains("module 'sentence_transformers.models.Dense' is not supported"), err);
        assertEquals(1, err.strip().lines().count(), err);
    }

    /** Each bad invocation: exit 2, one line on stderr naming the problem, no stack trace, before any work. */
    @Test
    void everyBadOptionIsOneLineAndExitTwo(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws java.io.IOException {
        java.nio.file.Path empty = dir.resolve("empty-idx3-ubyte");
        java.nio.file.Files.write(empty, new byte[] {0, 0, 8, 3, 0, 0, 0, 0, 0, 0, 0, 28, 0, 0, 0, 28});
        java.nio.file.Path small = dir.resolve("small-idx3-ubyte"); // 12 images of 10x10
        java.nio.ByteBuffer smallBytes = java.nio.ByteBuffer.allocate(16 + 1200).put(new byte[] {0, 0, 8, 3}).putInt(12).putInt(10).putInt(10);
        java.nio.file.Files.write(small, smallBytes.array());
        java.nio.file.Path smallLabels = dir.resolve("small-idx1-ubyte");
        java.nio.file.Files.write(smallLabels, java.nio.ByteBuffer.allocate(8 + 12).put(new byte[] {0, 0, 8, 1}).putInt(12).array());
        java.nio.file.Path run = java.nio.file.Files.createDirectories(dir.resolve("run")); // a run whose metrics.json was cut short
        java.nio.file.Files.writeString(run.resolve("metrics.json"), "{\"report\": {");
        String[][] cases = {
            {"--limit must be >= 1", "gate", "a", "b", "--limit", "0"},
            {"--max-flip-rate must be a finite number", "gate", "a", "b", "--max-flip-rate", "NaN"},
            {"--max-mce must be a finite number", "gate", "a", "b", "--max-mce", "Infinity"},
            {"BASELINE a: no such file", "gate", "a", "b"},
            {"--epochs must be >= 1, not -3", "pretrain", "--epochs", "-3"},
            {"is a directory", "pretrain", "--out", dir.toString()},
            {"--lora-lr must be a finite number > 0, not NaN", "demo", "--lora-lr", "NaN"},
            {"--rank must be >= 1", "demo", "--rank", "0"},
            {"--rank 100000 exceeds the model's width 128", "demo", "--rank", "100000"},
            {"--target-images must be >= 1", "demo", "--target-images", "-5"},
            {"--checkpoint", "demo", "--checkpoint", dir.resolve("none.safetensors").toString()},
            {"--eval-images must be >= 1", "robust", "--eval-images", "0"},
            {"--micro-batches must be >= 1, not 0", "demo", "--micro-batches", "0"},
            {"--micro-batches must be <= 128, not 129", "pretrain", "--micro-batches", "129"},
            {"--micro-batches must be <= 64, not 65", "robust", "--micro-batches", "65"},
            {"--micro-batches must be <= 16, not 17", "finetune", "--micro-batches", "17"},
            {"--lr must be a finite number > 0", "robust", "--lr", "-1"},
            {"--alert must be a finite number", "drift", "x", "--warn", "0.5", "--alert", "0.1"},
            {"--warn must be a finite number", "drift", "x", "--warn", "NaN"},
            {"the file holds no images", "drift", empty.toString()},
            {"the images are 10x10, the model takes 28x28", "drift", small.toString()},
            {"the images are 10x10, the model takes 28x28", "eval", "--images", small.toString(), "--labels", smallLabels.toString()},
            {"--images and --labels go together", "eval", "--images", empty.toString()},
            {"the file holds no images", "eval", "--images", empty.toString(), "--labels", empty.toString()},
            {"is not a float", "robust", "--eps", "abc"},
            {"Unknown option", "info", "--bogus"},
            {"give --model or --onnx", "import", "--out", dir.resolve("imported").toString()},
            {"--model must be minilm or bge-small, is 'gpt'", "import", "--model", "gpt", "--out", dir.resolve("imported").toString()},
            {"--heads must be >= 1", "import", "--onnx", empty.toString(), "--heads", "0", "--out", dir.resolve("imported").toString()},
            {"not an ONNX file", "import", "--onnx", empty.toString(), "--out", dir.resolve("imported").toString()},
            {"nomodel: not a folder", "embed", "--model", dir.resolve("nomodel").toString(), "hello"},
            {"--pooling must be mean or cls", "embed", "--model", dir.toString(), "--pooling", "max", "hello"},
            {"no texts", "embed", "--model", dir.toString()},
            {"--batch must be <= 4096, not 5000", "embed", "--model", dir.toString(), "--batch", "5000", "hello"},
            {"--max-length must be >= 2, not 1", "embed", "--model", dir.toString(), "--max-length", "1", "hello"},
            {"--batch must be >= 1, not 0", "classify", "--adapter", dir.toString(), "--batch", "0", "hello"},
            {"--max-length must be >= 2, not 0", "classify", "--adapter", dir.toString(), "--max-length", "0", "hello"},
            {"--max-length must be >= 2, not -3", "serve", dir.toString(), "--max-length", "-3"},
            {"--methods: 'lasso' is not one of lora, full, head, probe", "finetune", "--methods", "lasso"},
            {"--task must be spam", "finetune", "--task", "sentiment"},
            {"--seeds must be >= 1", "finetune", "--seeds", "0"},
            {"--lora-lr must be a finite number > 0", "finetune", "--lora-lr", "NaN"},
            {"not a folder", "finetune", "--data", dir.resolve("nodata").toString()},
            {"--seeds must be >= 1", "robust-text", "--seeds", "0"},
            {"--poison must be a share in [0, 0.5)", "robust-text", "--poison", "0.7"},
            {"--freelb-step must be a finite number > 0", "robust-text", "--freelb-step", "-1"},
            {"--alpha must be in (0, 1)", "gate", "a", "b", "--alpha", "1.5"},
            {"no texts", "classify", "--model", dir.toString(), "--adapter", dir.toString()},
            {"no classifier.safetensors", "classify", "--model", dir.toString(), "--adapter", dir.toString(), "hello"},
            {"--adapter-budget-mb must be >= 1", "serve", dir.toString(), "--adapter-budget-mb", "0"},
            {"--adapter-reserve-mb must be >= 0", "serve", dir.toString(), "--adapter-reserve-mb", "-1"},
            {"--idle-threads must be >= 1", "serve", dir.toString(), "--idle-threads", "0"},
            {"metrics.json is not valid JSON", "report", run.toString()},
            {"no metrics.json in", "report", dir.resolve("norun").toString()},
        };
        for (String[] c : cases) {
            String[] args = java.util.Arrays.copyOfRange(c, 1, c.length);
            String err = run(2, args);
            assertTrue(err.contains(c[0]), String.join(" ", args) + ": " + err);
            assertEquals(1, err.strip().lines().count(), String.join(" ", args) + ": " + err);
            assertTrue(!err.contains("Exception") && !err.contains("\tat "), "no stack trace: " + err);
        }
        try (var left = java.nio.file.Files.list(dir)) {
            assertEquals(java.util.Set.of(empty, small, smallLabels, run), java.util.Set.copyOf(left.toList()), "nothing written by a refused command");
        }
    }
}
