package org.tune4j.bert;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.tune4j.backend.CpuBackend;
import org.tune4j.eval.EvaluateText;
import org.tune4j.nn.BertClassifier;
import org.tune4j.nn.BertConfig;
import org.tune4j.nn.BertModel;
import org.tune4j.nn.Lora;
import org.tune4j.train.TextTrainer;

/** The text training loop on a small random BERT: it learns a task a token decides, by LoRA and by full fine-tuning, and a probe fits cached vectors. */
class TextTrainerTest {
    private static final BertConfig SMALL = new BertConfig(20, 16, 2, 2, 32, 16, 2, 1e-12f, "gelu");

    /** Sequences of 3 to 12 tokens; class 1 when token 7 appears, which it does in half of them. */
    private static int[][] sequences(int n, SplittableRandom rng, int[] labels) {
        int[][] out = new int[n][];
        for (int i = 0; i < n; i++) {
            int len = 3 + rng.nextInt(10);
            out[i] = new int[len];
            out[i][0] = 1;
            for (int t = 1; t < len; t++) out[i][t] = 8 + rng.nextInt(12);
            labels[i] = i % 2;
            if (labels[i] == 1) out[i][1 + rng.nextInt(len - 1)] = 7;
        }
        return out;
    }

    @Test
    void loraAndFullFineTuningLearnATaskOneTokenDecides() {
        SplittableRandom rng = new SplittableRandom(3);
        int[] trainLabels = new int[256], testLabels = new int[128];
        int[][] train = sequences(256, rng, trainLabels), test = sequences(128, rng, testLabels);
        for (boolean lora : new boolean[] {true, false}) {
            try (Arena arena = Arena.ofShared()) {
                SplittableRandom init = new SplittableRandom(5);
                BertClassifier m = new BertClassifier(arena, new BertModel(arena, SMALL, init), BertClassifier.Pooling.MEAN, 2, init);
                if (lora) Lora.inject(m, arena, new Lora.Config(4, 8f, 0f, false, List.of("query", "value", "dense"), List.of("classifier")), init);
                double before = EvaluateText.accuracy(EvaluateText.predict(CpuBackend.get(), m, test, 32), testLabels);
                List<String> lines = new ArrayList<>();
                double[] losses = TextTrainer.fit(CpuBackend.get(), m, train, trainLabels, new TextTrainer.Options(12, 16, 2, lora ? 1e-2f : 3e-3f, 0.01f, 0.1f, 1.0, 1), lines::add);
                double after = EvaluateText.accuracy(EvaluateText.predict(CpuBackend.get(), m, test, 32), testLabels);
                assertEquals(12, lines.size(), "one progress line per epoch");
                assertTrue(losses[11] < 0.5 * losses[0], (lora ? "lora" : "full") + " losses " + java.util.Arrays.toString(losses));
                assertTrue(after >= 0.9, (lora ? "lora" : "full") + ": test accuracy " + before + " -> " + after);
            }
        }
    }

    /** Trained weights after 2 epochs of LoRA (lora_dropout 0.1) with each batch as 3 micro-batches, on {@code threads} threads. */
    private static float[] trainedWithMicroBatches(int threads, int[][] train, int[] labels) {
        int before = CpuBackend.threads();
        CpuBackend.setThreads(threads);
        try (Arena arena = Arena.ofShared()) {
            SplittableRandom init = new SplittableRandom(5);
            BertClassifier m = new BertClassifier(arena, new BertModel(arena, SMALL, init), BertClassifier.Pooling.MEAN, 2, init);
            Lora.inject(m, arena, new Lora.Config(4, 8f, 0.1f, false, List.of("query", "value"), List.of("classifier")), init);
            var o = new TextTrainer.Options(2, 16, 1, 1e-2f, 0.01f, 0.1f, 1.0, 1).withMicroBatches(3);
            double[] losses = TextTrainer.fit(CpuBackend.get(), m, train, labels, o, line -> {});
            assertTrue(losses[1] > 0 && Double.isFinite(losses[1]));
            List<Float> out = new ArrayList<>();
            for (var e : m.namedParameters().entrySet()) if (e.getValue().trainable()) for (float v : e.getValue().value().toFloatArray()) out.add(v);
            float[] w = new float[out.size()];
            for (int i = 0; i < w.length; i++) w[i] = out.get(i);
            return w;
        } finally {
            CpuBackend.setThreads(before);
        }
    }

    @Test
    void microBatchesTrainTheSameBitsOnOneThreadAndOnTwo() {
        SplittableRandom rng = new SplittableRandom(3);
        int[] labels = new int[100];
        int[][] train = sequences(100, rng, labels); // batches of 16, the last of 4: 3 parts of 5 or 6, and of 1 or 2
        float[] one = trainedWithMicroBatches(1, train, labels), two = trainedWithMicroBatches(2, train, labels);
        org.junit.jupiter.api.Assertions.assertArrayEquals(one, two, 0f, "micro-batches in turn and at once");
        assertThrowsOn(() -> new TextTrainer.Options(2, 16, 1, 1e-2f, 0.01f, 0.1f, 1.0, 1).withMicroBatches(17), "more micro-batches than the batch");
        assertThrowsOn(() -> new TextTrainer.Options(2, 16, 1, 1e-2f, 0.01f, 0.1f, 1.0, 1).withMicroBatches(0), "no micro-batch");
    }

    private static void assertThrowsOn(org.junit.jupiter.api.function.Executable e, String what) {
        org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, e, what);
    }

    @Test
    void bucketedBatchesCoverEverySequenceOnceAndPadLittle() {
        SplittableRandom rng = new SplittableRandom(9);
        int[] labels = new int[1000];
        int[][] seqs = sequences(1000, rng, labels);
        List<int[]> batches = org.tune4j.train.TextTrainerAccess.bucketed(seqs, 16, new SplittableRandom(1));
        boolean[] seen = new boolean[1000];
        long padded = 0, real = 0;
        for (int[] b : batches) {
            int longest = 0;
            for (int i : b) longest = Math.max(longest, seqs[i].length);
            for (int i : b) {
                assertTrue(!seen[i], i + " in two batches");
                seen[i] = true;
                padded += longest - seqs[i].length;
                real += seqs[i].length;
            }
        }
        for (boolean s : seen) assertTrue(s);
        assertTrue(padded < 0.05 * real, "padding " + padded + " of " + real + " tokens");
    }

    /**
     * The step listener (a progress bar's) hears every batch of every epoch in order, with its mean loss and a rate, then
     * the epoch with the loss {@code fit} returns and no validation accuracy: through the encoder and on pooled vectors.
     */
    @Test
    void everyStepAndEpochIsToldToTheListener() {
        SplittableRandom rng = new SplittableRandom(8);
        int[] labels = new int[70];
        int[][] train = sequences(70, rng, labels);
        for (boolean headOnly : new boolean[] {false, true}) {
            try (Arena arena = Arena.ofShared()) {
                SplittableRandom init = new SplittableRandom(5);
                BertClassifier m = new BertClassifier(arena, new BertModel(arena, SMALL, init), BertClassifier.Pooling.MEAN, 2, init);
                if (headOnly) m.trainHeadOnly();
                else Lora.inject(m, arena, new Lora.Config(4, 8f, 0f, false, List.of("query", "value"), List.of("classifier")), init);
                List<String> heard = new ArrayList<>();
                List<Double> epochLosses = new ArrayList<>();
                double[] stepLossSum = new double[3];
                org.tune4j.train.Trainer.Listener listener = new org.tune4j.train.Trainer.Listener() {
                    @Override
                    public void onStep(int epoch, int step, int steps, float loss, double examplesPerSecond) {
                        heard.add(epoch + ":" + step + "/" + steps);
                        assertTrue(Float.isFinite(loss) && loss > 0 && examplesPerSecond > 0 && Double.isFinite(examplesPerSecond), loss + ", " + examplesPerSecond);
                        stepLossSum[epoch] += loss;
                    }

                    @Override
                    public void onEpoch(int epoch, double trainLoss, double valAccuracy, double seconds) {
                        heard.add("epoch " + epoch);
                        assertTrue(Double.isNaN(valAccuracy) && seconds > 0, valAccuracy + ", " + seconds);
                        epochLosses.add(trainLoss);
                    }
                };
                var o = new TextTrainer.Options(3, 16, 1, 1e-2f, 0.01f, 0.1f, 1.0, 1);
                double[] losses = TextTrainer.fit(CpuBackend.get(), m, train, labels, o, line -> {}, listener);
                int steps = Integer.parseInt(heard.get(0).split("/")[1]);
                assertTrue(steps >= 5, "70 sequences in batches of 16: " + heard.get(0)); // length buckets may leave more, smaller batches
                List<String> expected = new ArrayList<>();
                for (int e = 0; e < 3; e++) {
                    for (int s = 0; s < steps; s++) expected.add(e + ":" + s + "/" + steps);
                    expected.add("epoch " + e);
                }
                assertEquals(expected, heard, headOnly ? "head alone" : "lora");
                for (int e = 0; e < 3; e++) {
                    assertEquals(losses[e], epochLosses.get(e), 0.0, "epoch " + e + "'s loss");
                    assertTrue(stepLossSum[e] / steps > 0.5 * losses[e] && stepLossSum[e] / steps < 2 * losses[e], "the steps' mean losses against the epoch's");
                }
            }
        }
    }

    /** The head alone on cached pooled vectors trains what the loop through the frozen encoder trains: the same losses and head. */
    @Test
    void theHeadAloneOnPooledVectorsMatchesTheLoopThroughTheEncoder() {
        SplittableRandom rng = new SplittableRandom(6);
        int[] labels = new int[90];
        int[][] train = sequences(90, rng, labels);
        double[][] losses = new double[2][];
        float[][] head = new float[2][];
        for (int k = 0; k < 2; k++) {
            try (Arena arena = Arena.ofShared()) {
                SplittableRandom init = new SplittableRandom(5);
                BertClassifier m = new BertClassifier(arena, new BertModel(arena, SMALL, init), BertClassifier.Pooling.MEAN, 2, init);
                m.trainHeadOnly();
                var o = new TextTrainer.Options(3, 16, 2, 5e-2f, 0.01f, 0.1f, 1.0, 1);
                losses[k] = k == 0 ? TextTrainer.fit(CpuBackend.get(), m, train, labels, o, line -> {})
                        : org.tune4j.train.TextTrainerAccess.fitThroughEncoder(CpuBackend.get(), m, train, labels, o);
                head[k] = m.namedParameters().get("classifier.weight").value().toFloatArray();
            }
        }
        org.junit.jupiter.api.Assertions.assertArrayEquals(losses[1], losses[0], 1e-5, "epoch losses");
        org.junit.jupiter.api.Assertions.assertArrayEquals(head[1], head[0], 1e-5f, "the head's weights");
        assertTrue(losses[0][2] < losses[0][0], "the head learns: " + java.util.Arrays.toString(losses[0]));
        try (Arena arena = Arena.ofShared()) {
            BertClassifier m = new BertClassifier(arena, new BertModel(arena, SMALL, new SplittableRandom(5)), BertClassifier.Pooling.MEAN, 2, new SplittableRandom(5));
            var o = new TextTrainer.Options(1, 16, 1, 1e-2f, 0f, 0f, 1.0, 1);
            assertThrowsOn(() -> TextTrainer.fitOnPooled(CpuBackend.get(), m, new float[90][16], train, labels, o, line -> {}), "an encoder that trains");
            m.trainHeadOnly();
            assertThrowsOn(() -> TextTrainer.fitOnPooled(CpuBackend.get(), m, new float[89][16], train, labels, o, line -> {}), "a vector short");
        }
    }

    /**
     * FreeLB: one ascent step from δ = 0 is plain training, bit for bit (x + 0 = x, gradients seeded 1/1); with three steps
     * and a start it trains a different model that still learns the task.
     */
    @Test
    void freeLbWithOneStepFromZeroIsPlainTrainingAndWithMoreStillLearns() {
        SplittableRandom rng = new SplittableRandom(4);
        int[] trainLabels = new int[128], testLabels = new int[64];
        int[][] train = sequences(128, rng, trainLabels), test = sequences(64, rng, testLabels);
        float[][] weights = new float[3][];
        double[] accuracy = new double[3];
        TextTrainer.FreeLb[] kinds = {null, new TextTrainer.FreeLb(1, 0.1f, 0f, 0f), new TextTrainer.FreeLb(3, 0.01f, 0.05f, 0.01f)}; // small: this model's embeddings are small
        for (int k = 0; k < 3; k++) {
            try (Arena arena = Arena.ofShared()) {
                SplittableRandom init = new SplittableRandom(5);
                BertClassifier m = new BertClassifier(arena, new BertModel(arena, SMALL, init), BertClassifier.Pooling.MEAN, 2, init);
                Lora.inject(m, arena, new Lora.Config(4, 8f, 0f, false, List.of("query", "value", "dense"), List.of("classifier")), init);
                TextTrainer.fit(CpuBackend.get(), m, train, trainLabels, new TextTrainer.Options(10, 16, 1, 1e-2f, 0.01f, 0.1f, 1.0, 1, kinds[k]), line -> {});
                weights[k] = ((org.tune4j.nn.LoraLinear) m.namedModules().get("bert.encoder.layer.0.attention.self.query")).loraB().value().toFloatArray();
                accuracy[k] = EvaluateText.accuracy(EvaluateText.predict(CpuBackend.get(), m, test, 32), testLabels);
            }
        }
        assertTrue(java.util.Arrays.equals(weights[0], weights[1]), "one FreeLB step from 0 must be plain training");
        assertTrue(!java.util.Arrays.equals(weights[0], weights[2]), "three steps must change the training");
        assertTrue(accuracy[2] >= 0.9, "accuracy plain and FreeLB-trained: " + java.util.Arrays.toString(accuracy));
        org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, () -> new TextTrainer.FreeLb(0, 0.1f, 0f, 0f));
    }
}
