package org.tune4j.bert;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.tune4j.autograd.Parameter;
import org.tune4j.autograd.Tape;
import org.tune4j.backend.Backend;
import org.tune4j.backend.CpuBackend;
import org.tune4j.backend.ReferenceBackend;
import org.tune4j.data.TokenBatch;
import org.tune4j.nn.BertClassifier;
import org.tune4j.nn.BertConfig;
import org.tune4j.nn.BertModel;
import org.tune4j.nn.Lora;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;
import org.tune4j.testing.FiniteDifferences;

/**
 * A small BERT classifier written with the real modules (embeddings, masked attention over padded sequences
 * of different lengths, post-LN blocks, erf GELU, pooling, a head), LoRA on query and value, the head trained:
 * every trainable parameter's gradient from the tape against central finite differences of the loss on the
 * reference backend; and the native backend's gradients against the reference's. Its model and batch serve the
 * GPU's check too (CudaBertTest).
 */
public class BertGradientTest {
    private static final BertConfig SMALL = new BertConfig(11, 8, 2, 2, 12, 8, 2, 1e-12f, "gelu");

    /** The model with LoRA on query and value, or plain (full fine-tuning: every parameter trained). */
    public static BertClassifier model(Arena arena, BertClassifier.Pooling pooling, boolean lora) {
        SplittableRandom rng = new SplittableRandom(7);
        BertClassifier m = new BertClassifier(arena, new BertModel(arena, SMALL, rng), pooling, 3, rng);
        if (!lora) return m;
        Lora.inject(m, arena, new Lora.Config(2, 4f, 0f, false, List.of("query", "value"), List.of("classifier")), rng);
        // B = 0 would make A's gradient 0: give the adapters a value, so both get checked
        m.namedParameters().forEach((name, p) -> {
            if (name.endsWith("lora_B")) for (long i = 0; i < p.numel(); i++) p.value().setFloat(i, (float) (rng.nextDouble() - 0.5));
        });
        return m;
    }

    public static TokenBatch batch(Arena arena) {
        // three sequences of 5, 3 and 1 tokens: two padded, one all padding but its first token
        return TokenBatch.of(arena, new int[][] {{1, 4, 9, 3, 2}, {1, 10, 2}, {1}}, new int[][] {{0, 0, 1, 1, 1}, {0, 0, 0}, {0}});
    }

    private static double loss(Backend backend, BertClassifier m, TokenBatch in, Tensor labels, boolean backward) {
        try (Tape t = new Tape(backend, backward)) {
            var loss = t.crossEntropy(m.logits(t, in), labels, 0f);
            if (backward) t.backward(loss);
            return loss.value().getFloat(0);
        }
    }

    @ParameterizedTest
    @EnumSource(BertClassifier.Pooling.class)
    void everyLoraGradientMatchesFiniteDifferences(BertClassifier.Pooling pooling) {
        assertEquals(2 * 2 * 2 + 2, checkAgainstFiniteDifferences(pooling, false), "lora_A and lora_B of query and value in 2 layers, the head's weight and bias");
    }

    @Test
    void everyFullFineTuningGradientMatchesFiniteDifferences() {
        // embeddings (word, position, token type, LayerNorm), per layer 6 projections and 2 LayerNorms (weight and bias each), the head
        assertEquals(5 + 2 * 16 + 2, checkAgainstFiniteDifferences(BertClassifier.Pooling.MEAN, true));
    }

    /** Checks every trainable parameter; returns how many. */
    private static int checkAgainstFiniteDifferences(BertClassifier.Pooling pooling, boolean full) {
        Backend ref = new ReferenceBackend();
        try (Arena arena = Arena.ofConfined()) {
            BertClassifier m = model(arena, pooling, !full);
            TokenBatch in = batch(arena);
            Tensor labels = Tensor.zeros(arena, DType.I32, 3);
            labels.setInt(0, 2);
            labels.setInt(2, 1);
            loss(ref, m, in, labels, true);
            int checked = 0;
            for (Map.Entry<String, Parameter> e : m.namedParameters().entrySet()) {
                Parameter p = e.getValue();
                if (!p.trainable()) {
                    assertTrue(!p.hasGrad() || max(p.grad()) == 0f, e.getKey() + " is frozen and got a gradient");
                    continue;
                }
                float[] analytic = p.grad().toFloatArray();
                double[] numeric = FiniteDifferences.gradient(p.value(), () -> loss(ref, m, in, labels, false), 1e-3);
                for (int i = 0; i < numeric.length; i++) assertEquals(numeric[i], analytic[i], 2e-3 * (1 + Math.abs(numeric[i])), e.getKey() + "[" + i + "]");
                checked++;
            }
            return checked;
        }
    }

    @ParameterizedTest
    @EnumSource(BertClassifier.Pooling.class)
    void fullFineTuningGradientsOnTheNativeBackendMatchTheReference(BertClassifier.Pooling pooling) {
        try (Arena arena = Arena.ofConfined()) {
            BertClassifier onRef = model(arena, pooling, false), onCpu = model(arena, pooling, false);
            TokenBatch in = batch(arena);
            Tensor labels = Tensor.zeros(arena, DType.I32, 3);
            labels.setInt(1, 1);
            double lr = loss(new ReferenceBackend(), onRef, in, labels, true), lc = loss(CpuBackend.get(), onCpu, in, labels, true);
            assertEquals(lr, lc, 1e-5, "loss");
            Map<String, Parameter> cpu = onCpu.namedParameters();
            onRef.namedParameters().forEach((name, p) -> {
                float[] a = p.grad().toFloatArray(), b = cpu.get(name).grad().toFloatArray();
                for (int i = 0; i < a.length; i++) assertEquals(a[i], b[i], 1e-4 * (1 + Math.abs(a[i])), name + "[" + i + "]");
            });
        }
    }

    private static float max(Tensor t) {
        float m = 0;
        for (float f : t.toFloatArray()) m = Math.max(m, Math.abs(f));
        return m;
    }
}
