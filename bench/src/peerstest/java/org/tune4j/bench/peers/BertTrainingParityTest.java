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
 * One LoRA training step of all-MiniLM-L6-v2 as a classifier (r 8 on query and value, the head trained; a padded
 * batch of four real texts) in tune4j and in PyTorch through DJL on the same weights and batch: the loss, every
 * trained tensor's gradient, and every tensor AdamW updates from PyTorch's gradient, within a relative error of 1e-4
 * (‖ours − PyTorch's‖ / ‖PyTorch's‖). tune4j's step runs as TextTrainer trains: its frozen weights packed, on AMX tiles
 * where the CPU has AMX-BF16. In the peers profile: {@code ./mvnw -Ppeers verify}.
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

    @Test
    void oneLoraStepMatchesPyTorch(@TempDir Path dir) throws Exception {
        BertConfig c = PretrainedModels.importMiniLm(PretrainedModels.miniLmJar(), dir.resolve("hf"));
        List<String> texts = List.of("Win a free cruise! Reply now to claim your prize.", "Re: the meeting notes from Tuesday are attached",
                "Hi", "The build broke again after the last merge; can someone look at the attention kernel before the release?");
        try (Arena arena = Arena.ofShared(); TextTokenizer tok = TextTokenizer.load(dir.resolve("hf/tokenizer.json"), 64);
                NDManager nm = DjlPytorch.engine().newBaseManager()) {
            SplittableRandom rng = new SplittableRandom(3);
            BertClassifier ours = new BertClassifier(arena, BertCheckpoint.load(arena, dir.resolve("hf")), BertClassifier.Pooling.MEAN, 2, rng);
            Lora.inject(ours, arena, new Lora.Config(8, 16f, 0f, false, List.of("query", "value"), List.of("classifier")), rng);
            Map<String, Parameter> params = ours.namedParameters();
            params.forEach((name, p) -> { // B = 0 would leave A without a gradient
                if (name.endsWith("lora_B")) for (long i = 0; i < p.numel(); i++) p.value().setFloat(i, (float) ((rng.nextDouble() - 0.5) * 0.02));
            });
            DjlBert theirs = DjlBert.of(nm, c, 8, 2f, (name, shape) -> {
                Parameter p = params.get(name);
                if (p == null) throw new IllegalStateException("no tune4j parameter " + name);
                return nm.create(p.value().toFloatArray(), new Shape(shape));
            });
            TokenBatch in = tok.encode(arena, texts);
            Tensor labels = Tensor.zeros(arena, DType.I32, texts.size());
            int[] y = {1, 0, 0, 0};
            for (int i = 0; i < y.length; i++) labels.setInt(i, y[i]);

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
            NDArray oneHot = nm.create(new long[] {1, 0, 0, 0}).toType(DataType.INT64, false).oneHot(2);
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
                double err = relativeError(e.getValue().grad().toFloatArray(), theirs.p.get(e.getKey()).getGradient().toFloatArray());
                report.append(String.format("%s %.2e; ", e.getKey(), err));
                assertTrue(err <= 1e-4, "gradient of " + e.getKey() + ": relative error " + err);
                checked++;
            }
            assertTrue(checked == 2 * 2 * 6 + 2, checked + " trained tensors");
            // one AdamW step each on PyTorch's gradient: tune4j's, and torch.optim.AdamW's first step written in PyTorch's ops
            // (m = (1-b1) g, v = (1-b2) g², p -= lr·wd·p, p -= lr (m / (1-b1)) / (sqrt(v / (1-b2)) + eps)), weight decay as tune4j
            // gives it (0.01 on the head's weight, none on adapters and biases). On the same gradient: a first step moves each
            // weight by lr·g / (|g| + eps), so where |g| is near eps (1e-8) it magnifies the last bits of a gradient that two
            // correct f32 summation orders give (an element of 1.2e-8, a sum of terms thousands of times larger: 1.1e-8 here on
            // the FMA kernels, 0.96e-8 on AMX tiles, moved its weight 0.02 and 0.06 lr from PyTorch's), which the gradients'
            // check above bounds as a whole
            float lr = 1e-3f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
            for (Map.Entry<String, Parameter> e : params.entrySet()) {
                if (e.getValue().trainable()) e.getValue().grad().copyFrom(Tensor.of(arena, theirs.p.get(e.getKey()).getGradient().toFloatArray(), e.getValue().grad().shape()));
            }
            AdamW.of(arena, params, 0.01f, 1f).step(CpuBackend.get(), lr);
            for (Map.Entry<String, Parameter> e : params.entrySet()) {
                if (!e.getValue().trainable()) continue;
                NDArray w = theirs.p.get(e.getKey()), g = w.getGradient();
                float wd = e.getKey().equals("classifier.weight") ? 0.01f : 0f;
                NDArray m = g.mul(1 - b1), v = g.mul(g).mul(1 - b2);
                NDArray updated = w.sub(w.mul(lr * wd)).sub(m.div(1 - b1).div(v.div(1 - b2).sqrt().add(eps)).mul(lr));
                double err = relativeError(e.getValue().value().toFloatArray(), updated.toFloatArray());
                assertTrue(err <= 1e-4, "updated " + e.getKey() + ": relative error " + err);
            }
            System.out.printf("one LoRA step against PyTorch (DJL)%s: loss %.7f vs %.7f; gradients: %s%n", packs.isEmpty() ? "" : ", " + packs.size() + " frozen weights packed",
                    ourLoss, theirLoss, report);
        }
    }
}
