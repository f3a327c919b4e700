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
import org.tune4j.autograd.SequenceOps;
import org.tune4j.autograd.Tape;
import org.tune4j.backend.CpuBackend;
import org.tune4j.data.TextTokenizer;
import org.tune4j.data.TokenBatch;
import org.tune4j.io.BertCheckpoint;
import org.tune4j.io.HfCheckpoint;
import org.tune4j.io.SentencePipeline;
import org.tune4j.nn.BertClassifier;
import org.tune4j.nn.BertModel;
import org.tune4j.nn.CompressedLinear;
import org.tune4j.serve.SentenceEncoder;
import org.tune4j.tensor.Tensor;

/**
 * {@link SentenceEncoder}: its vectors are the encoder's last hidden state pooled and normalized as the folder says (mean
 * or [CLS], unit length or not), in batches of any size, the same from many threads at once; bad input is refused by name.
 */
class SentenceEncoderTest {
    private static final List<String> TEXTS = List.of("a short one", "a somewhat longer text, with a comma and more words in it", "third",
            "the fourth text of the list", "and a fifth, to make two batches of two and one of one");

    @TempDir
    Path dir;

    @Test
    void vectorsAreTheHiddenStatePooledAsTheFolderSays() throws IOException {
        Path model = MiniLm.smallModel(dir.resolve("small"));
        for (SentencePipeline p : List.of(new SentencePipeline(BertClassifier.Pooling.MEAN, true, 24), new SentencePipeline(BertClassifier.Pooling.CLS, false))) {
            p.write(model, 16);
            float[][] expected = reference(model, p, p.maxLength() > 0 ? p.maxLength() : 256);
            try (SentenceEncoder e = SentenceEncoder.open(model, new SentenceEncoder.Options(null, 0, 2, 2))) {
                assertEquals(p, e.pipeline());
                assertEquals(16, e.dimension());
                float[][] got = e.encode(TEXTS);
                for (int i = 0; i < TEXTS.size(); i++) assertArrayEquals(expected[i], got[i], 1e-6f, p + ", text " + i);
                if (p.normalize()) {
                    double norm = 0;
                    for (float v : got[1]) norm += (double) v * v;
                    assertEquals(1.0, norm, 1e-5);
                }
            }
        }
    }

    /** int8 weights: the vectors are the int8 encoder's on each text alone, and within a cosine of 0.999 of f32's. */
    @Test
    void int8WeightsGiveTheInt8EncodersVectors() throws IOException {
        Path model = MiniLm.smallModel(dir.resolve("small"));
        SentencePipeline p = new SentencePipeline(BertClassifier.Pooling.MEAN, true);
        float[][] f32 = reference(model, p, 32, null), int8 = reference(model, p, 32, CompressedLinear.Format.INT8);
        try (SentenceEncoder e = SentenceEncoder.open(model, new SentenceEncoder.Options(p, 32, 2, 1, CompressedLinear.Format.INT8))) {
            assertTrue(e.weightError() > 0 && e.weightError() < 0.02, "weight error " + e.weightError());
            float[][] got = e.encode(TEXTS);
            for (int i = 0; i < TEXTS.size(); i++) {
                assertArrayEquals(int8[i], got[i], 1e-5f, "text " + i);
                double dot = 0;
                for (int c = 0; c < got[i].length; c++) dot += (double) got[i][c] * f32[i][c];
                assertTrue(dot > 0.999, "text " + i + ": cosine with f32 " + dot);
            }
        }
    }

    @Test
    void manyThreadsGetWhatOneGets() throws Exception {
        Path model = MiniLm.smallModel(dir.resolve("small"));
        try (SentenceEncoder e = SentenceEncoder.open(model, new SentenceEncoder.Options(null, 0, 3, 2))) {
            float[][] alone = e.encode(TEXTS);
            ExecutorService pool = Executors.newFixedThreadPool(4);
            try {
                List<Future<float[][]>> runs = new ArrayList<>();
                for (int i = 0; i < 16; i++) runs.add(pool.submit(() -> e.encode(TEXTS)));
                for (Future<float[][]> r : runs) {
                    float[][] got = r.get();
                    for (int i = 0; i < TEXTS.size(); i++) assertArrayEquals(alone[i], got[i], "text " + i);
                }
            } finally {
                pool.shutdown();
            }
        }
    }

    /**
     * A service closes its encoder while requests still run: the close waits for them, each of them gets its vectors or
     * (once the close has begun) the refusal by name, never a freed tokenizer's or arena's error, and close itself returns
     * without one (before, it threw "Session is acquired by 1 clients" and left the model's memory allocated).
     */
    @Test
    void closeWhileCallsRunWaitsForThem() throws Exception {
        Path model = MiniLm.smallModel(dir.resolve("small"));
        SentenceEncoder e = SentenceEncoder.open(model, new SentenceEncoder.Options(null, 0, 2, 2));
        float[][] alone = e.encode(TEXTS);
        ExecutorService pool = Executors.newFixedThreadPool(4);
        java.util.concurrent.CountDownLatch someDone = new java.util.concurrent.CountDownLatch(8);
        try {
            List<Future<Integer>> callers = new ArrayList<>();
            for (int t = 0; t < 4; t++) {
                callers.add(pool.submit(() -> {
                    int answered = 0;
                    while (true) {
                        float[][] got;
                        try {
                            got = e.encode(TEXTS);
                        } catch (IllegalStateException closed) {
                            assertEquals("this SentenceEncoder is closed", closed.getMessage());
                            return answered;
                        }
                        for (int i = 0; i < TEXTS.size(); i++) assertArrayEquals(alone[i], got[i], "text " + i);
                        answered++;
                        someDone.countDown();
                    }
                }));
            }
            assertTrue(someDone.await(60, java.util.concurrent.TimeUnit.SECONDS), "the callers answered too few calls");
            e.close();
            int answered = 0;
            for (Future<Integer> c : callers) answered += c.get();
            assertTrue(answered >= 8, answered + " calls answered");
        } finally {
            pool.shutdown();
        }
    }

    @Test
    void badInputIsRefusedByName() throws IOException {
        Path model = MiniLm.smallModel(dir.resolve("small"));
        try (SentenceEncoder e = SentenceEncoder.open(model)) {
            assertTrue(assertThrows(IllegalArgumentException.class, () -> e.encode(List.of())).getMessage().contains("no texts"));
            assertTrue(assertThrows(IllegalArgumentException.class, () -> e.encode(List.of("fine", " "))).getMessage().contains("text 1 is empty"));
            e.close(); // then again by the try: a second close does nothing
            assertTrue(assertThrows(IllegalStateException.class, () -> e.encode(List.of("late"))).getMessage().contains("this SentenceEncoder is closed"));
        }
        IllegalArgumentException tooLong = assertThrows(IllegalArgumentException.class, () -> SentenceEncoder.open(model, new SentenceEncoder.Options(null, 5000, 8, 1)));
        assertTrue(tooLong.getMessage().contains("exceeds the model's"), tooLong.getMessage());
        IOException noFolder = assertThrows(IOException.class, () -> SentenceEncoder.open(dir.resolve("none")));
        assertTrue(noFolder.getMessage().contains("none"), noFolder.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new SentenceEncoder.Options(null, 0, 0, 1));
    }

    /** Each text alone through the encoder's forward on a tape, pooled and finished as {@code p} says. */
    private static float[][] reference(Path model, SentencePipeline p, int maxLength) throws IOException {
        return reference(model, p, maxLength, null);
    }

    /** As above with every projection compressed to {@code weights} (null: f32). */
    private static float[][] reference(Path model, SentencePipeline p, int maxLength, CompressedLinear.Format weights) throws IOException {
        float[][] out = new float[TEXTS.size()][];
        try (Arena arena = Arena.ofConfined(); TextTokenizer tok = TextTokenizer.load(model.resolve(HfCheckpoint.TOKENIZER), maxLength)) {
            BertModel m = BertCheckpoint.load(arena, model);
            if (weights != null) m.compressProjections(arena, CpuBackend.get(), weights);
            for (int i = 0; i < TEXTS.size(); i++) {
                try (Tape t = new Tape(CpuBackend.get(), false)) {
                    TokenBatch in = tok.encode(arena, List.of(TEXTS.get(i)));
                    var hidden = m.forward(t, in);
                    Tensor pooled = (p.pooling() == BertClassifier.Pooling.MEAN ? SequenceOps.meanPool(t, hidden, in.lengths(), 1) : t.everyNthRow(hidden, in.seq(), 0)).value();
                    out[i] = p.finish(pooled.toFloatArray());
                }
            }
        }
        return out;
    }
}
