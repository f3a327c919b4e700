package org.tune4j.bench.peers;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tune4j.autograd.Parameter;
import org.tune4j.autograd.Tape;
import org.tune4j.backend.CpuBackend;
import org.tune4j.data.TextTokenizer;
import org.tune4j.data.TokenBatch;
import org.tune4j.io.BertCheckpoint;
import org.tune4j.io.PretrainedModels;
import org.tune4j.nn.BertClassifier;
import org.tune4j.nn.BertConfig;
import org.tune4j.nn.Lora;
import org.tune4j.optim.AdamW;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * One training step of all-MiniLM-L6-v2 as a classifier in tune4j and in PyTorch through DJL on the same weights and
 * batch: the loss, every trained tensor's gradient, and every tensor AdamW updates from PyTorch's gradient, within a
 * relative error of 1e-4 (‖ours − PyTorch's‖ / ‖PyTorch's‖). LoRA (r 8 on query and value, the head trained; a padded
 * batch of four real texts), its step as TextTrainer trains it: its frozen weights packed, on AMX tiles where the CPU
 * has AMX-BF16; and full fine-tuning (every weight trained; 16 texts of 64 tokens, whose products, 1024 rows, run on
 * AMX tiles packed at the call where the CPU has them: CpuBackend.gemmOnAmx). In the peers profile:
 * {@code ./mvnw -Ppeers verify}.
 */
class BertTrainingParityTest {
    private static double relativeError(float[] ours, float[] theirs) {
        double diff = 0, norm = 0;
        for (int i = 0; i < ours.length; i++) {
            diff += ((double) ours[i] - theirs[i]) * ((double) ours[i] - theirs[i]);
            norm += (double) theirs[i] * theirs[i];
        }
        return Math.sqrt(diff / Math.max(norm, 1e-30));
    }

    private static double norm(float[] x) {
        double sum = 0;
        for (float v : x) sum += (double) v * v;
        return Math.sqrt(sum);
    }

    @Test
    void oneLoraStepMatchesPyTorch(@TempDir Path dir) throws Exception {
        stepMatchesPyTorch(dir, true, List.of("Win a free cruise! Reply now to claim your prize.", "Re: the meeting notes from Tuesday are attached", "Hi",
                "The build broke again after the last merge; can someone look at the attention kernel before the release?"));
    }

    @Test
    void oneFullFineTuningStepMatchesPyTorch(@TempDir Path dir) throws Exception {
        String[] parts = {"Win a free cruise and reply now to claim your prize before the offer ends tonight.",
                "The meeting notes from Tuesday are attached, with the budget for the next quarter and the hiring plan.",
                "The build broke again after the last merge; can someone look at the attention kernel before the release?",
                "Cheap watches, rolex and omega replicas shipped worldwide in three days, no prescription needed."};
        List<String> texts = new java.util.ArrayList<>();
        for (int i = 0; i < 16; i++) // 64 tokens each: 1024 rows, a step's products over the AMX tiles' 1.5e8 flops
            texts.add("Message " + (i + 1) + ": " + parts[i % 4] + " " + parts[(i + 1 + i / 4) % 4] + " " + parts[(i + 2) % 4]);
        stepMatchesPyTorch(dir, false, texts);
    }

    private static void stepMatchesPyTorch(Path dir, boolean lora, List<String> texts) throws Exception {
        BertConfig c = PretrainedModels.importMiniLm(PretrainedModels.miniLmJar(), dir.resolve("hf"));
        try (Arena arena = Arena.ofShared(); TextTokenizer tok = TextTokenizer.load(dir.resolve("hf/tokenizer.json"), 64);
                NDManager nm = DjlPytorch.engine().newBaseManager()) {
            SplittableRandom rng = new SplittableRandom(3);
            BertClassifier ours = new BertClassifier(arena, BertCheckpoint.load(arena, dir.resolve("hf")), BertClassifier.Pooling.MEAN, 2, rng);
            if (lora) Lora.inject(ours, arena, new Lora.Config(8, 16f, 0f, false, List.of("query", "value"), List.of("classifier")), rng);
            else ours.setTrainable(true);
            Map<String, Parameter> params = ours.namedParameters();
            params.forEach((name, p) -> { // B = 0 would leave A without a gradient
                if (name.endsWith("lora_B")) for (long i = 0; i < p.numel(); i++) p.value().setFloat(i, (float) ((rng.nextDouble() - 0.5) * 0.02));
            });
            DjlBert theirs = DjlBert.of(nm, c, lora ? 8 : 0, 2f, (name, shape) -> {
                Parameter p = params.get(name);
                if (p == null) throw new IllegalStateException("no tune4j parameter " + name);
                return nm.create(p.value().toFloatArray(), new Shape(shape));
            });
            TokenBatch in = tok.encode(arena, texts);
            Tensor labels = Tensor.zeros(arena, DType.I32, texts.size());
            long[] y = new long[texts.size()];
            for (int i = 0; i < y.length; i++) labels.setInt(i, (int) (y[i] = i % 4 == 0 || i % 4 == 3 ? 1 : 0));

            double ourLoss;
            // the frozen weights packed as TextTrainer trains (on AMX tiles where the CPU has AMX-BF16; elsewhere none)
            var packs = org.tune4j.train.TextTrainer.frozenProjectionPacks(CpuBackend.get(), ours, arena);
            try (Tape t = new Tape(CpuBackend.get(), true).packedWeights(packs)) {
                var loss = t.crossEntropy(ours.logits(t, in), labels, 0f);
                t.backward(loss);
                ourLoss = loss.value().getFloat(0);
            }
            long[] ids = new long[in.batch() * in.seq()];
            float[] mask = new float[ids.length];
            for (int i = 0; i < ids.length; i++) {
                ids[i] = in.ids().getInt(i);
                mask[i] = i % in.seq() < in.lengths().getInt(i / in.seq()) ? 1f : 0f;
            }
            NDArray idArray = nm.create(ids, new Shape(in.batch(), in.seq())), maskArray = nm.create(mask, new Shape(in.batch(), in.seq()));
            NDArray oneHot = nm.create(y).toType(DataType.INT64, false).oneHot(2);
            double theirLoss;
            try (GradientCollector gc = DjlPytorch.engine().newGradientCollector()) {
                NDArray loss = theirs.forward(idArray, maskArray).logSoftmax(-1).mul(oneHot).sum().neg().div(texts.size());
                theirLoss = loss.getFloat();
                gc.backward(loss);
            }
            assertTrue(Math.abs(ourLoss - theirLoss) <= 1e-4 * Math.abs(theirLoss), "loss " + ourLoss + " against PyTorch's " + theirLoss);
            int checked = 0;
            StringBuilder report = new StringBuilder();
            for (Map.Entry<String, Parameter> e : params.entrySet()) {
                if (!e.getValue().trainable()) continue;
                float[] mine = e.getValue().grad().toFloatArray(), theirGrad = theirs.p.get(e.getKey()).getGradient().toFloatArray();
                checked++;
                if (e.getKey().endsWith("attention.self.key.bias")) {
                    // zero in exact arithmetic: q·(k + b) adds q·b to every score of a query's row, which softmax takes away;
                    // both sides' are rounding, so each is checked small against the query bias's gradient instead
                    double scale = norm(theirs.p.get(e.getKey().replace(".key.", ".query.")).getGradient().toFloatArray());
                    report.append(String.format("%s |%.1e| and |%.1e| (query's |%.1e|); ", e.getKey(), norm(mine), norm(theirGrad), scale));
                    assertTrue(norm(mine) <= 1e-4 * scale && norm(theirGrad) <= 1e-4 * scale, "gradient of " + e.getKey() + " not about zero");
                    continue;
                }
                double err = relativeError(mine, theirGrad);
                report.append(String.format("%s %.2e; ", e.getKey(), err));
                assertTrue(err <= 1e-4, "gradient of " + e.getKey() + ": relative error " + err);
            }
            assertTrue(checked == (lora ? 2 * 2 * 6 + 2 : params.size()), checked + " trained tensors");
            // one AdamW step each on PyTorch's gradient: tune4j's, and torch.optim.AdamW's first step written in PyTorch's ops
            // (m = (1-b1) g, v = (1-b2) g², p -= lr·wd·p, p -= lr (m / (1-b1)) / (sqrt(v / (1-b2)) + eps)), weight decay as
            // tune4j gives it (0.01 on the matrices, the head's weight among them; none on adapters, biases and LayerNorms).
            // On the same gradient: a first step moves each weight by lr·g / (|g| + eps), so where |g| is near eps (1e-8) it
            // magnifies the last bits of a gradient that two correct f32 summation orders give (an element of 1.2e-8, a sum
            // of terms thousands of times larger: 1.1e-8 here on the FMA kernels, 0.96e-8 on AMX tiles, moved its weight 0.02
            // and 0.06 lr from PyTorch's), which the gradients' check above bounds as a whole
            float lr = 1e-3f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
            for (Map.Entry<String, Parameter> e : params.entrySet()) {
                if (e.getValue().trainable()) e.getValue().grad().copyFrom(Tensor.of(arena, theirs.p.get(e.getKey()).getGradient().toFloatArray(), e.getValue().grad().shape()));
            }
            AdamW.of(arena, params, 0.01f, 1f).step(CpuBackend.get(), lr);
            for (Map.Entry<String, Parameter> e : params.entrySet()) {
                if (!e.getValue().trainable()) continue;
                NDArray w = theirs.p.get(e.getKey()), g = w.getGradient();
                float wd = e.getValue().value().rank() == 2 && !e.getKey().contains("lora_") ? 0.01f : 0f;
                NDArray m = g.mul(1 - b1), v = g.mul(g).mul(1 - b2);
                NDArray updated = w.sub(w.mul(lr * wd)).sub(m.div(1 - b1).div(v.div(1 - b2).sqrt().add(eps)).mul(lr));
                double err = relativeError(e.getValue().value().toFloatArray(), updated.toFloatArray());
                assertTrue(err <= 1e-4, "updated " + e.getKey() + ": relative error " + err);
            }
            long rows = (long) in.batch() * in.seq();
            String how = !packs.isEmpty() ? ", " + packs.size() + " frozen weights packed"
                    : CpuBackend.gemmOnAmx(false, rows, c.hidden(), c.hidden()) ? ", products of " + rows + " rows on AMX tiles packed at the call" : "";
            System.out.printf("one %s step against PyTorch (DJL)%s: loss %.7f vs %.7f; gradients: %s%n", lora ? "LoRA" : "full fine-tuning", how, ourLoss, theirLoss, report);
        }
    }
}
