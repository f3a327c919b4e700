package org.tune4j.autograd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.tune4j.backend.CpuBackend;
import org.tune4j.backend.PackedLinearWeights;
import org.tune4j.data.TokenBatch;
import org.tune4j.nn.BertClassifier;
import org.tune4j.nn.BertConfig;
import org.tune4j.nn.BertModel;
import org.tune4j.nn.Linear;
import org.tune4j.nn.Lora;
import org.tune4j.nn.VisionTransformer;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/** A tape given packed copies of a model's linear weights ({@link Tape#packedWeights}) runs its linears on them. */
class TapePackedWeightsTest {
    private static final VisionTransformer.Config TINY = new VisionTransformer.Config(28, 7, 32, 2, 2, 64, 10);

    /** The logits, then the input's gradient, of a ViT on x, with the packed weights given (an empty map: none). */
    private static float[] forwardBackward(VisionTransformer vit, Tensor x, Map<Tensor, PackedLinearWeights> packed) {
        try (Tape t = new Tape(CpuBackend.get(), true, false).packedWeights(packed)) {
            Var in = t.input(x, true);
            Var logits = vit.logits(t, in);
            Tensor labels = Tensor.zeros(t.arena(), DType.I32, x.dim(0));
            t.backward(t.crossEntropy(logits, labels, 0f));
            float[] l = logits.value().toFloatArray(), g = in.grad().toFloatArray(), out = new float[l.length + g.length];
            System.arraycopy(l, 0, out, 0, l.length);
            System.arraycopy(g, 0, out, l.length, g.length);
            return out;
        }
    }

    @Test
    void packedWeightsGiveTheLinearsValuesAndInputGradients() {
        try (Arena arena = Arena.ofConfined()) {
            VisionTransformer vit = new VisionTransformer(arena, TINY, new SplittableRandom(5));
            vit.train(false);
            Tensor x = Tensor.zeros(arena, DType.F32, 5, 784);
            SplittableRandom rng = new SplittableRandom(6);
            for (long i = 0; i < x.numel(); i++) x.setFloat(i, rng.nextFloat());
            Map<Tensor, PackedLinearWeights> packed = new IdentityHashMap<>();
            vit.namedModules().forEach((path, m) -> {
                if (m instanceof Linear l) packed.put(l.weight().value(), PackedLinearWeights.pack(arena, l.weight().value()));
            });
            assertEquals(10, packed.size(), "the patch embedding, qkv, proj, fc1 and fc2 of two blocks, the head");

            float[] plain = forwardBackward(vit, x, Map.of()), onPacked = forwardBackward(vit, x, packed);
            for (int i = 0; i < plain.length; i++) {
                assertEquals(plain[i], onPacked[i], 1e-5 * (1 + Math.abs(plain[i])), "value " + i + " (logits, then the input's gradient)");
            }

            // the packed copies are what ran: the head's weight changed after packing changes the plain logits only
            Tensor head = ((Linear) vit.namedModules().get("head")).weight().value();
            for (long i = 0; i < head.numel(); i++) head.setFloat(i, head.getFloat(i) + (float) Math.sin(i));
            float[] changed = forwardBackward(vit, x, Map.of()), stale = forwardBackward(vit, x, packed);
            boolean differs = false;
            for (int i = 0; i < 50; i++) {
                assertEquals(onPacked[i], stale[i], 1e-6 * (1 + Math.abs(onPacked[i])), "logit " + i + " from the packed head");
                differs |= Math.abs(changed[i] - onPacked[i]) > 1e-3;
            }
            assertTrue(differs, "the plain head saw the change");
        }
    }

    /** A LoRA step's loss, then every trainable parameter's gradient, of m on ids, with the packed weights given. */
    private static float[] loraStep(BertClassifier m, int[][] ids, Map<Tensor, PackedLinearWeights> packed) {
        m.namedParameters().values().forEach(p -> p.zeroGrad());
        try (Tape t = new Tape(CpuBackend.get(), true).packedWeights(packed)) {
            Tensor labels = Tensor.zeros(t.arena(), DType.I32, ids.length);
            for (int b = 0; b < ids.length; b++) labels.setInt(b, b % 3);
            Var loss = t.crossEntropy(m.logits(t, TokenBatch.of(t.arena(), ids, null)), labels, 0f);
            t.backward(loss);
            List<Float> out = new ArrayList<>(List.of(loss.value().getFloat(0)));
            m.namedParameters().forEach((name, p) -> {
                if (p.trainable()) for (float g : p.grad().toFloatArray()) out.add(g);
            });
            float[] a = new float[out.size()];
            for (int i = 0; i < a.length; i++) a[i] = out.get(i);
            return a;
        }
    }

    /**
     * BERT under LoRA with its frozen projections and LoRA bases packed with their transposes
     * (BertModel.packFrozenProjections, as TextTrainer trains where the CPU has AMX-BF16): the input gradients dx = gy w
     * run on wᵀ packed, and the loss and every adapter's and the head's gradient are the plain tape's (to f32's
     * rounding: on AMX tiles in other bits).
     */
    @Test
    void frozenProjectionsPackedWithTheirTransposesGiveTheLoraGradients() {
        try (Arena arena = Arena.ofConfined()) {
            var config = new BertConfig(50, 64, 2, 2, 128, 64, 2, 1e-12f, "gelu");
            var m = new BertClassifier(arena, new BertModel(arena, config, new SplittableRandom(2)), BertClassifier.Pooling.MEAN, 3, new SplittableRandom(3));
            Lora.inject(m, arena, new Lora.Config(4, 8f, 0f, false, List.of("query", "value"), List.of("classifier")), new SplittableRandom(4));
            m.train(true);
            Map<Tensor, PackedLinearWeights> packed = m.bert().packFrozenProjections(arena);
            assertEquals(12, packed.size(), "query's and value's LoRA bases, key, attention output, FFN up and down of two layers");
            packed.values().forEach(p -> assertTrue(p.transposed() != null && p.transposed().rows() == p.columns(), "wᵀ packed"));
            SplittableRandom rng = new SplittableRandom(7);
            int[][] ids = new int[5][];
            for (int b = 0; b < ids.length; b++) {
                ids[b] = new int[9 + 4 * b];
                for (int i = 0; i < ids[b].length; i++) ids[b][i] = rng.nextInt(50);
            }
            float[] plain = loraStep(m, ids, Map.of()), onPacked = loraStep(m, ids, packed);
            assertEquals(plain.length, onPacked.length);
            double scale = 0;
            for (float v : plain) scale = Math.max(scale, Math.abs(v));
            for (int i = 0; i < plain.length; i++) {
                assertEquals(plain[i], onPacked[i], 1e-5 * scale, "value " + i + " (the loss, then the gradients)");
            }
            // the packed copies are what ran, forward and backward: every frozen weight changed after packing changes the
            // plain step only (a backward on the changed w after a forward on the packed one would match neither)
            for (Tensor w : packed.keySet())
                for (long i = 0; i < w.numel(); i++) w.setFloat(i, w.getFloat(i) * 1.5f);
            float[] changed = loraStep(m, ids, Map.of()), stale = loraStep(m, ids, packed);
            boolean differs = false;
            for (int i = 0; i < plain.length; i++) {
                assertEquals(onPacked[i], stale[i], 1e-6 * scale, "value " + i + " from the packed copies");
                differs |= Math.abs(changed[i] - onPacked[i]) > 1e-3 * scale;
            }
            assertTrue(differs, "the plain step saw the change");
        }
    }
}
