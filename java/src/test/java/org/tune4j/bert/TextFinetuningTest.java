package org.tune4j.bert;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tune4j.backend.CpuBackend;
import org.tune4j.data.TextDataset;
import org.tune4j.experiments.TextFinetuning;
import org.tune4j.io.HfCheckpoint;
import org.tune4j.nn.Lora;

/**
 * The text job end to end on a small random BERT with the real tokenizer: every method runs on every seed, the
 * forgetting probe is measured for the methods that change the encoder and only for them, and the summary
 * agrees with the runs.
 */
class TextFinetuningTest {
    private static TextDataset words(String name, String[] a, String[] b, int n, long seed, List<String> classes) {
        SplittableRandom rng = new SplittableRandom(seed);
        List<String> texts = new ArrayList<>();
        int[] labels = new int[n];
        for (int i = 0; i < n; i++) {
            labels[i] = i % 2;
            String[] pool = labels[i] == 0 ? a : b;
            StringBuilder sb = new StringBuilder();
            for (int w = 0; w < 4 + rng.nextInt(6); w++) sb.append(pool[rng.nextInt(pool.length)]).append(' ');
            texts.add(sb.toString().strip() + " " + i);
        }
        return new TextDataset(name, texts, labels, classes);
    }

    @Test
    void everyMethodRunsAndForgettingIsMeasuredWhereTheEncoderChanges(@TempDir Path dir) throws Exception {
        Path model = MiniLm.smallModel(dir.resolve("small"));
        TextDataset task = words("task", new String[] {"cheap", "offer", "win", "money"}, new String[] {"meeting", "notes", "code", "review"}, 80, 1, List.of("ham", "spam"));
        TextDataset genres = words("genres", new String[] {"court", "jury", "vote"}, new String[] {"ship", "star", "planet"}, 80, 2, List.of("press", "fiction"));
        var o = new TextFinetuning.Options(List.of(TextFinetuning.Method.values()), List.of(1L, 2L), 40, 20, 16, 2, 8, 1e-2f, 1e-3f, 1e-2f,
                new Lora.Config(2, 4f, 0f, false, List.of("query", "value"), List.of("classifier")), genres, 20, true, dir.resolve("adapter"), org.tune4j.nn.BertClassifier.Pooling.MEAN, 2); // each batch of 8 as 2 micro-batches
        List<String> lines = new ArrayList<>();
        TextFinetuning.Result r = TextFinetuning.run(CpuBackend.get(), model, task, o, lines::add);
        assertEquals(8, r.runs().size(), "4 methods x 2 seeds");
        for (TextFinetuning.Run run : r.runs()) {
            assertTrue(run.testAccuracy() >= 0 && run.testAccuracy() <= 1);
            assertNotNull(run.forgettingBase());
            if (run.method().equals("lora") || run.method().equals("full")) {
                assertNotNull(run.forgettingProbeAccuracy(), run.method());
                assertNotNull(run.int8Accuracy(), run.method() + " is quantized and tested again");
                assertTrue(run.int8Layers() >= 0 && run.int8Layers() <= 6, "of the layer's 6 projections: " + run.int8Layers());
                assertTrue(run.int8Seconds() != null && run.int8Seconds() > 0, run.method() + "'s int8 step is timed");
            } else {
                assertNull(run.forgettingProbeAccuracy(), run.method() + " leaves the encoder as it was");
                assertNull(run.int8Accuracy());
                assertNull(run.int8Seconds());
            }
        }
        assertEquals(4, r.summary().size());
        TextFinetuning.Summary lora = r.summary().get(0);
        double mean = r.runs().stream().filter(x -> x.method().equals("lora")).mapToDouble(TextFinetuning.Run::testAccuracy).average().orElseThrow();
        assertEquals(mean, lora.meanAccuracy(), 1e-12);
        assertNotNull(lora.meanForgetting());
        assertNull(r.summary().get(3).meanForgetting(), "the probe's encoder is frozen");
        double int8Time = r.runs().stream().filter(x -> x.method().equals("lora")).mapToDouble(TextFinetuning.Run::int8Seconds).average().orElseThrow();
        assertEquals(int8Time, lora.meanInt8Seconds(), 1e-12);
        assertNull(r.summary().get(3).meanInt8Seconds(), "the probe is not quantized");
        assertTrue(lora.trainablePercent() > 0 && lora.trainablePercent() < r.summary().get(1).trainablePercent());
        assertTrue(lines.stream().anyMatch(l -> l.startsWith("forgetting probe")), String.join("\n", lines));
        // the first seed's LoRA adapter, read back onto the pretrained encoder, gives that run's test accuracy again
        try (Arena arena = Arena.ofShared(); var tok = org.tune4j.data.TextTokenizer.load(model.resolve(HfCheckpoint.TOKENIZER), 16)) {
            var loaded = org.tune4j.io.BertAdapter.load(arena, model, dir.resolve("adapter"));
            assertEquals(List.of("ham", "spam"), loaded.classes());
            var test = task.stratifiedSplit(1, new String[] {"train", "test"}, 0.7).get(1).sample(1, 20);
            int[][] ids = new int[test.size()][];
            for (int i = 0; i < ids.length; i++) ids[i] = tok.ids(test.texts().get(i));
            double acc = org.tune4j.eval.EvaluateText.accuracy(org.tune4j.eval.EvaluateText.predict(CpuBackend.get(), loaded.model(), ids, 8), test.labels());
            assertEquals(r.runs().get(0).testAccuracy(), acc, 1e-12, "seed 1's LoRA run");
        }
    }

    @Test
    void aLengthThePositionsCannotHoldIsRefusedBeforeTraining(@TempDir Path dir) throws Exception {
        Path model = MiniLm.smallModel(dir.resolve("small")); // 64 positions
        TextDataset task = words("task", new String[] {"cheap", "offer"}, new String[] {"meeting", "notes"}, 20, 1, List.of("ham", "spam"));
        var o = new TextFinetuning.Options(List.of(TextFinetuning.Method.HEAD), List.of(1L), 8, 4, 65, 1, 8, 1e-2f, 1e-3f, 1e-2f,
                new Lora.Config(2, 4f, 0f, false, List.of("query", "value"), List.of("classifier")), null, 0, false, null, org.tune4j.nn.BertClassifier.Pooling.MEAN, 1);
        List<String> lines = new ArrayList<>();
        var e = assertThrows(IllegalArgumentException.class, () -> TextFinetuning.run(CpuBackend.get(), model, task, o, lines::add));
        assertTrue(e.getMessage().contains("a max length of 65 tokens exceeds the model's 64 positions"), e.getMessage());
        assertTrue(lines.isEmpty(), "nothing ran: " + lines);
    }

    @Test
    void dataSmallerThanAskedIsSaidOnce(@TempDir Path dir) throws Exception {
        Path model = MiniLm.smallModel(dir.resolve("small"));
        TextDataset task = words("task", new String[] {"cheap", "offer"}, new String[] {"meeting", "notes"}, 20, 1, List.of("ham", "spam"));
        var o = new TextFinetuning.Options(List.of(TextFinetuning.Method.HEAD), List.of(1L, 2L), 100, 50, 16, 1, 8, 1e-2f, 1e-3f, 1e-2f,
                new Lora.Config(2, 4f, 0f, false, List.of("query", "value"), List.of("classifier")), null, 0, false, null, org.tune4j.nn.BertClassifier.Pooling.MEAN, 1);
        List<String> lines = new ArrayList<>();
        TextFinetuning.run(CpuBackend.get(), model, task, o, lines::add);
        List<String> said = lines.stream().filter(l -> l.contains("fewer texts than asked")).toList();
        assertEquals(List.of("task holds fewer texts than asked: 14 to train (asked 100), 6 to test (asked 50), its 20 texts split 70/30"), said, String.join("\n", lines));
    }

    @Test
    void dataTooSmallToSplitIsRefusedBeforeTraining(@TempDir Path dir) throws Exception {
        Path model = MiniLm.smallModel(dir.resolve("small"));
        TextDataset two = new TextDataset("two", List.of("cheap offer", "meeting notes"), new int[] {0, 1}, List.of("ham", "spam"));
        var o = new TextFinetuning.Options(List.of(TextFinetuning.Method.HEAD), List.of(1L), 8, 4, 16, 1, 8, 1e-2f, 1e-3f, 1e-2f,
                new Lora.Config(2, 4f, 0f, false, List.of("query", "value"), List.of("classifier")), null, 0, false, null, org.tune4j.nn.BertClassifier.Pooling.MEAN, 1);
        List<String> lines = new ArrayList<>();
        var e = assertThrows(IllegalArgumentException.class, () -> TextFinetuning.run(CpuBackend.get(), model, two, o, lines::add));
        assertTrue(e.getMessage().contains("two: its 2 texts, split 70/30 in each class, leave 2 to train and 0 to test"), e.getMessage());
        assertTrue(lines.stream().noneMatch(l -> l.contains("epoch")), "nothing trained: " + lines);
    }
}
