package org.tune4j.bert;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tune4j.autograd.Tape;
import org.tune4j.backend.CpuBackend;
import org.tune4j.cli.Main;
import org.tune4j.data.TextTokenizer;
import org.tune4j.data.TokenBatch;
import org.tune4j.io.BertAdapter;
import org.tune4j.io.HfCheckpoint;
import org.tune4j.nn.CompressedLinear;
import org.tune4j.nn.Lora;
import org.tune4j.serve.TextClassifier;

/**
 * {@link TextClassifier} and {@code tune4j classify}: with the adapter folded into the encoder, each text's probabilities
 * are the unmerged adapted classifier's softmax on that text alone (LoRA and DoRA), in batches of any size and from many
 * threads at once; bad input is refused by name.
 */
class TextClassifierTest {
    private static final List<String> TEXTS = List.of("win a prize now", "the meeting moved to three, see the notes from last week attached", "ok",
            "a fourth message of middling length", "and a fifth, to make two batches of two and one of one");

    @TempDir
    Path dir;

    @Test
    void probabilitiesAreTheAdaptedClassifiersOnEachTextAlone() throws IOException {
        Path model = MiniLm.smallModel(dir.resolve("small"));
        for (boolean dora : new boolean[] {false, true}) {
            Path adapter = MiniLm.smallAdapter(model, dir.resolve("adapter-" + dora), dora);
            double[][] expected = reference(model, adapter, 32, null);
            try (TextClassifier c = TextClassifier.open(CpuBackend.get(), model, adapter, new TextClassifier.Options(32, 2, 1))) {
                assertEquals(List.of("no", "yes"), c.classes());
                List<TextClassifier.Prediction> got = c.classify(TEXTS);
                for (int i = 0; i < TEXTS.size(); i++) {
                    float[] p = got.get(i).probabilities();
                    for (int k = 0; k < 2; k++) assertEquals(expected[i][k], p[k], 1e-5, (dora ? "DoRA" : "LoRA") + ", text " + i + ", class " + k);
                    int best = p[1] > p[0] ? 1 : 0;
                    assertEquals(c.classes().get(best), got.get(i).label());
                    assertEquals(p[best], got.get(i).probability());
                }
            }
        }
    }

    /** int8, 2:4 and both: each text's probabilities are the folded encoder's, compressed, on that text alone; int8 stays near f32. */
    @Test
    void compressedWeightsAreTheFoldedEncoderCompressed() throws IOException {
        Path model = MiniLm.smallModel(dir.resolve("small"));
        Path adapter = MiniLm.smallAdapter(model, dir.resolve("adapter"), false);
        double[][] f32 = reference(model, adapter, 32, null);
        for (CompressedLinear.Format f : CompressedLinear.Format.values()) {
            double[][] expected = reference(model, adapter, 32, f);
            try (TextClassifier c = TextClassifier.open(CpuBackend.get(), model, adapter, new TextClassifier.Options(32, 2, 1, f))) {
                assertTrue(c.weightError() > 0 && c.weightError() < (f == CompressedLinear.Format.INT8 ? 0.02 : 0.8), f + ": weight error " + c.weightError());
                List<TextClassifier.Prediction> got = c.classify(TEXTS);
                for (int i = 0; i < TEXTS.size(); i++) {
                    for (int k = 0; k < 2; k++) {
                        assertEquals(expected[i][k], got.get(i).probabilities()[k], 1e-5, f + ", text " + i + ", class " + k);
                        if (f == CompressedLinear.Format.INT8) assertEquals(f32[i][k], got.get(i).probabilities()[k], 0.02, "int8 against f32, text " + i);
                    }
                }
            }
        }
        List<String> args = new ArrayList<>(List.of("classify", "--weights", "int8", "--model", model.toString(), "--adapter", adapter.toString()));
        args.addAll(TEXTS);
        List<String> lines = printed(args);
        double[][] int8 = reference(model, adapter, 32, CompressedLinear.Format.INT8);
        for (int i = 0; i < TEXTS.size(); i++) {
            String[] cols = lines.get(i).split("\t");
            int best = int8[i][1] > int8[i][0] ? 1 : 0;
            assertEquals(List.of("no", "yes").get(best), cols[0], lines.get(i));
            assertEquals(int8[i][best], Float.parseFloat(cols[1]), 1e-4, lines.get(i));
        }
        assertEquals(2, Main.commandLine().execute("classify", "--weights", "int4", "--model", model.toString(), "--adapter", adapter.toString(), "x"));
    }

    @Test
    void manyThreadsGetWhatOneGets() throws Exception {
        Path model = MiniLm.smallModel(dir.resolve("small"));
        Path adapter = MiniLm.smallAdapter(model, dir.resolve("adapter"), false);
        try (TextClassifier c = TextClassifier.open(CpuBackend.get(), model, adapter, new TextClassifier.Options(0, 3, 2))) {
            List<TextClassifier.Prediction> alone = c.classify(TEXTS);
            ExecutorService pool = Executors.newFixedThreadPool(4);
            try {
                List<Future<List<TextClassifier.Prediction>>> runs = new ArrayList<>();
                for (int i = 0; i < 12; i++) runs.add(pool.submit(() -> c.classify(TEXTS)));
                for (Future<List<TextClassifier.Prediction>> r : runs) {
                    List<TextClassifier.Prediction> got = r.get();
                    for (int i = 0; i < TEXTS.size(); i++) assertArrayEquals(alone.get(i).probabilities(), got.get(i).probabilities(), "text " + i);
                }
            } finally {
                pool.shutdown();
            }
        }
    }

    @Test
    void theCommandPrintsTheClassifiersLabels() throws IOException {
        Path model = MiniLm.smallModel(dir.resolve("small"));
        Path adapter = MiniLm.smallAdapter(model, dir.resolve("adapter"), true);
        List<TextClassifier.Prediction> expected = predictions(model, adapter);
        List<String> args = new ArrayList<>(List.of("classify", "--model", model.toString(), "--adapter", adapter.toString(), "--batch", "2"));
        args.addAll(TEXTS);
        List<String> lines = printed(args);
        assertEquals(TEXTS.size(), lines.size(), String.join("\n", lines));
        for (int i = 0; i < TEXTS.size(); i++) {
            String[] cols = lines.get(i).split("\t");
            assertEquals(expected.get(i).label(), cols[0], lines.get(i));
            assertEquals(expected.get(i).probability(), Float.parseFloat(cols[1]), 1e-4, lines.get(i));
            assertTrue(TEXTS.get(i).startsWith(cols[2].replaceFirst("\\.\\.\\.$", "")), lines.get(i)); // long texts cut to 57 characters and "..."
        }
    }

    @Test
    void theCommandWritesJsonLinesWithEveryClass() throws IOException {
        Path model = MiniLm.smallModel(dir.resolve("small"));
        Path adapter = MiniLm.smallAdapter(model, dir.resolve("adapter"), false);
        List<TextClassifier.Prediction> expected = predictions(model, adapter);
        List<String> args = new ArrayList<>(List.of("classify", "--json", "--model", model.toString(), "--adapter", adapter.toString()));
        args.addAll(TEXTS);
        List<String> lines = printed(args);
        assertEquals(TEXTS.size(), lines.size(), String.join("\n", lines));
        var json = new com.fasterxml.jackson.databind.ObjectMapper();
        for (int i = 0; i < TEXTS.size(); i++) {
            var line = json.readTree(lines.get(i));
            assertEquals(expected.get(i).label(), line.get("label").asText(), lines.get(i));
            assertEquals(expected.get(i).probability(), line.get("probability").floatValue(), lines.get(i));
            assertEquals(expected.get(i).probabilities()[0], line.get("probabilities").get("no").floatValue(), lines.get(i));
            assertEquals(expected.get(i).probabilities()[1], line.get("probabilities").get("yes").floatValue(), lines.get(i));
        }
    }

    /** TEXTS through the Java API at the command's defaults (the folder's length, batches of 32). */
    private static List<TextClassifier.Prediction> predictions(Path model, Path adapter) throws IOException {
        try (TextClassifier c = TextClassifier.open(CpuBackend.get(), model, adapter, new TextClassifier.Options(0, 32, 1))) {
            return c.classify(TEXTS);
        }
    }

    /** What the command line prints to standard output for {@code args}; it must exit 0. */
    private static List<String> printed(List<String> args) {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        java.io.PrintStream was = System.out;
        int code;
        try {
            System.setOut(new java.io.PrintStream(out, true, java.nio.charset.StandardCharsets.UTF_8));
            code = Main.commandLine().execute(args.toArray(String[]::new));
        } finally {
            System.setOut(was);
        }
        assertEquals(0, code, out.toString(java.nio.charset.StandardCharsets.UTF_8));
        return out.toString(java.nio.charset.StandardCharsets.UTF_8).lines().toList();
    }

    @Test
    void badInputIsRefusedByName() throws IOException {
        Path model = MiniLm.smallModel(dir.resolve("small"));
        Path adapter = MiniLm.smallAdapter(model, dir.resolve("adapter"), false);
        try (TextClassifier c = TextClassifier.open(model, adapter)) {
            assertTrue(assertThrows(IllegalArgumentException.class, () -> c.classify(List.of())).getMessage().contains("no texts"));
            assertTrue(assertThrows(IllegalArgumentException.class, () -> c.classify(List.of("fine", "\t"))).getMessage().contains("text 1 is empty"));
            c.close(); // then again by the try: a second close does nothing
            assertTrue(assertThrows(IllegalStateException.class, () -> c.classify(List.of("late"))).getMessage().contains("this TextClassifier is closed"));
        }
        IOException noHead = assertThrows(IOException.class, () -> TextClassifier.open(model, model));
        assertTrue(noHead.getMessage().contains("no " + BertAdapter.HEAD_FILE), noHead.getMessage());
        IllegalArgumentException tooLong = assertThrows(IllegalArgumentException.class,
                () -> TextClassifier.open(CpuBackend.get(), model, adapter, new TextClassifier.Options(5000, 8, 1)));
        assertTrue(tooLong.getMessage().contains("exceeds the model's"), tooLong.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new TextClassifier.Options(0, 0, 1));
        assertThrows(IllegalArgumentException.class, () -> new TextClassifier.Options(1, 8, 1));
    }

    /**
     * Each text alone through the adapted classifier on a tape, softmax of its logits in double: with {@code weights} null
     * the adapters unmerged, else folded and every projection then compressed to that format.
     */
    private static double[][] reference(Path model, Path adapter, int maxLength, CompressedLinear.Format weights) throws IOException {
        double[][] out = new double[TEXTS.size()][];
        try (Arena arena = Arena.ofConfined(); TextTokenizer tok = TextTokenizer.load(model.resolve(HfCheckpoint.TOKENIZER), maxLength)) {
            BertAdapter.Loaded c = BertAdapter.load(arena, model, adapter);
            if (weights != null) {
                Lora.fold(c.model(), CpuBackend.get());
                c.model().bert().compressProjections(arena, CpuBackend.get(), weights);
            }
            for (int i = 0; i < TEXTS.size(); i++) {
                try (Tape t = new Tape(CpuBackend.get(), false)) {
                    TokenBatch in = tok.encode(arena, List.of(TEXTS.get(i)));
                    float[] z = c.model().logits(t, in).value().toFloatArray();
                    double max = Math.max(z[0], z[1]), e0 = Math.exp(z[0] - max), e1 = Math.exp(z[1] - max);
                    out[i] = new double[] {e0 / (e0 + e1), e1 / (e0 + e1)};
                }
            }
        }
        return out;
    }
}
