package org.tune4j.bert;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tune4j.autograd.Tape;
import org.tune4j.backend.CpuBackend;
import org.tune4j.cli.Main;
import org.tune4j.data.TextTokenizer;
import org.tune4j.data.TokenBatch;
import org.tune4j.io.BertAdapter;
import org.tune4j.io.BertCheckpoint;
import org.tune4j.io.HfCheckpoint;
import org.tune4j.io.SentencePipeline;
import org.tune4j.nn.BertClassifier;
import org.tune4j.nn.BertModel;
import org.tune4j.tensor.Tensor;
import picocli.CommandLine;

/**
 * {@code tune4j merge}: the folder it writes loads as a plain encoder whose last hidden state is the adapted encoder's
 * (LoRA and DoRA, every projection adapted), with the tokenizer and the sentence-transformers modules beside it; bad
 * input is one line and exit 2.
 */
class MergeCommandTest {
    @TempDir
    Path dir;

    @Test
    void theMergedFolderComputesWhatTheAdapterDid() throws IOException {
        Path model = MiniLm.smallModel(dir.resolve("small"));
        new SentencePipeline(BertClassifier.Pooling.CLS, true, 64).write(model, 16);
        for (boolean dora : new boolean[] {false, true}) {
            Path adapter = MiniLm.smallAdapter(model, dir.resolve("adapter-" + dora), dora);
            Path out = dir.resolve("merged-" + dora);
            assertEquals(0, run(new StringWriter(), "merge", "--model", model.toString(), "--adapter", adapter.toString(), "--out", out.toString()));
            assertTrue(Files.isRegularFile(out.resolve(HfCheckpoint.TOKENIZER)));
            assertEquals(Optional.of(new SentencePipeline(BertClassifier.Pooling.CLS, true, 64)), SentencePipeline.read(out));
            try (Arena arena = Arena.ofConfined(); TextTokenizer tok = TextTokenizer.load(model.resolve(HfCheckpoint.TOKENIZER), 32)) {
                TokenBatch in = tok.encode(arena, List.of("a merged adapter", "computes what the adapter did, with no adapter left"));
                float[] adapted = hidden(BertAdapter.loadEncoder(arena, model, adapter), in), merged = hidden(BertCheckpoint.load(arena, out), in);
                double worst = 0;
                for (int i = 0; i < adapted.length; i++) worst = Math.max(worst, Math.abs(adapted[i] - merged[i]));
                assertTrue(worst < 1e-5, (dora ? "DoRA" : "LoRA") + ": merged vs adapted last hidden state, max |diff| " + worst);
                float[] base = hidden(BertCheckpoint.load(arena, model), in);
                double moved = 0;
                for (int i = 0; i < base.length; i++) moved = Math.max(moved, Math.abs(base[i] - merged[i]));
                assertTrue(moved > 1e-3, "the adapter changes the encoder: max |diff| from the base " + moved);
            }
        }
    }

    @Test
    void badInputIsOneLineAndExitTwo() throws IOException {
        Path model = MiniLm.smallModel(dir.resolve("small"));
        Path adapter = MiniLm.smallAdapter(model, dir.resolve("adapter"), false);
        Path other = dir.resolve("other");
        try (Arena arena = Arena.ofConfined()) { // another shape: the adapter's factors do not fit it
            BertCheckpoint.save(other, new BertModel(arena, new org.tune4j.nn.BertConfig(30522, 24, 1, 2, 32, 64, 2, 1e-12f, "gelu"), new SplittableRandom(3)), null);
        }
        String[][] cases = {
            {"is the model's own folder", "--model", model.toString(), "--adapter", adapter.toString(), "--out", model.toString()},
            {"no adapter_config.json", "--model", model.toString(), "--adapter", dir.toString(), "--out", dir.resolve("o1").toString()},
            {"lora_A", "--model", other.toString(), "--adapter", adapter.toString(), "--out", dir.resolve("o2").toString()},
        };
        for (String[] c : cases) {
            StringWriter err = new StringWriter();
            String[] args = new String[c.length];
            args[0] = "merge";
            System.arraycopy(c, 1, args, 1, c.length - 1);
            assertEquals(2, run(err, args), String.join(" ", args) + ": " + err);
            assertTrue(err.toString().contains(c[0]), err.toString());
            assertEquals(1, err.toString().strip().lines().count(), err.toString());
        }
        assertTrue(!Files.exists(dir.resolve("o1")) && !Files.exists(dir.resolve("o2")), "nothing written by a refused merge");
    }

    private static float[] hidden(BertModel m, TokenBatch in) {
        try (Tape t = new Tape(CpuBackend.get(), false)) {
            Tensor h = m.forward(t, in).value();
            return h.toFloatArray();
        }
    }

    private static int run(StringWriter err, String... args) {
        CommandLine cl = Main.commandLine();
        cl.setErr(new PrintWriter(err));
        return cl.execute(args);
    }
}
