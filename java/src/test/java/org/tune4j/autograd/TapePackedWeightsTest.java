package org.tune4j.autograd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.tune4j.backend.CpuBackend;
import org.tune4j.backend.PackedLinearWeights;
import org.tune4j.nn.Linear;
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
}
