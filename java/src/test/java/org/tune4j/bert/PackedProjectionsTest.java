package org.tune4j.bert;

import org.tune4j.autograd.SequenceOps;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.tune4j.autograd.Tape;
import org.tune4j.autograd.Var;
import org.tune4j.backend.CpuBackend;
import org.tune4j.data.TextTokenizer;
import org.tune4j.data.TokenBatch;
import org.tune4j.io.BertCheckpoint;
import org.tune4j.nn.BertModel;
import org.tune4j.nn.PackedLinear;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * all-MiniLM-L6-v2 with its 36 projections packed for inference ({@link BertModel#packProjections}) against the same
 * model unpacked: the same last_hidden_state bit for bit on real texts in padded batches (within f32's rounding where
 * they run on AMX tiles, {@link org.tune4j.backend.CpuBackend#linearAmx}), within float rounding on a
 * batch of a few tokens (where the plain linear takes dot products), the same parameter names (frozen), and the same
 * input gradients (the attacks' path).
 */
class PackedProjectionsTest {
    @Test
    void packedModelGivesTheUnpackedModelsOutputs() throws Exception {
        List<String> texts = MiniLm.texts(48);
        try (Arena arena = Arena.ofShared(); TextTokenizer tok = TextTokenizer.load(MiniLm.onnxDir().resolve("tokenizer.json"), 128)) {
            BertModel plain = BertCheckpoint.load(arena, MiniLm.hfDir()), packed = BertCheckpoint.load(arena, MiniLm.hfDir());
            var names = packed.namedParameters().keySet().stream().toList();
            assertEquals(36, packed.packProjections(arena));
            assertEquals(names, packed.namedParameters().keySet().stream().toList(), "a packed model keeps its parameters' names");
            assertTrue(packed.namedModules().values().stream().filter(m -> m instanceof PackedLinear).count() == 36);
            packed.namedParameters().forEach((name, p) -> {
                if (name.startsWith("encoder.layer.") && !name.contains("LayerNorm")) assertFalse(p.trainable(), name + " is packed, so frozen");
            });
            assertEquals(0, packed.packProjections(arena), "packing twice packs nothing more");
            boolean amx = org.tune4j.backend.CpuBackend.linearAmx();
            for (int from = 0; from < texts.size(); from += 16) {
                try (Arena step = Arena.ofConfined()) {
                    TokenBatch in = tok.encode(step, texts.subList(from, Math.min(texts.size(), from + 16)));
                    Tensor a = hidden(plain, in, step), b = hidden(packed, in, step);
                    long d = a.dim(1);
                    for (long i = 0; i < a.numel(); i++) {
                        // on AMX tiles (a CPU with AMX-BF16): f32-grade sums in other bits (BertParityTest: both within 1e-5 of
                        // ONNX Runtime on real tokens); a padded position, which no pooling reads, moves more (5e-5 seen)
                        long row = i / d;
                        boolean real = row % in.seq() < in.lengths().getInt((int) (row / in.seq()));
                        boolean same = amx ? Math.abs(a.getFloat(i) - b.getFloat(i)) <= (real ? 2e-5 : 1e-3) * (1 + Math.abs(a.getFloat(i)))
                                : Float.floatToRawIntBits(a.getFloat(i)) == Float.floatToRawIntBits(b.getFloat(i));
                        if (!same) throw new AssertionError("element " + i + " of batch " + from / 16 + ": " + a.getFloat(i) + " unpacked, " + b.getFloat(i) + " packed");
                    }
                }
            }
            long fallbacks = packed.namedModules().values().stream().filter(m -> m instanceof PackedLinear).mapToLong(m -> ((PackedLinear) m).packed().fallbacks()).sum();
            assertEquals(0, fallbacks, "projections that ran the plain linear instead of their packed weights");
            try (Arena step = Arena.ofConfined()) {
                TokenBatch in = tok.encode(step, List.of("hi"));
                assertTrue(in.batch() * in.seq() <= 4, "a batch of " + in.seq() + " tokens");
                Tensor a = hidden(plain, in, step), b = hidden(packed, in, step);
                for (long i = 0; i < a.numel(); i++) assertEquals(a.getFloat(i), b.getFloat(i), 1e-4, "element " + i + " of a 3-token text");
                // input gradients through the frozen weights: d sum(hidden) / d embedding delta
                Tensor ga = inputGradient(plain, in, step), gb = inputGradient(packed, in, step);
                for (long i = 0; i < ga.numel(); i++) assertEquals(ga.getFloat(i), gb.getFloat(i), 1e-4 * (1 + Math.abs(ga.getFloat(i))), "gradient element " + i);
            }
        }
    }

    private static Tensor hidden(BertModel m, TokenBatch in, Arena out) {
        try (Tape t = new Tape(CpuBackend.get(), false)) {
            return m.forward(t, in).value().copy(out);
        }
    }

    private static Tensor inputGradient(BertModel m, TokenBatch in, Arena out) {
        try (Tape t = new Tape(CpuBackend.get(), true, false)) {
            Var delta = t.input(Tensor.zeros(out, DType.F32, (long) in.batch() * in.seq(), m.config().hidden()), true);
            Var h = m.forward(t, in, null, delta);
            Var pooled = SequenceOps.meanPool(t, h, in.lengths(), in.batch());
            t.backward(t.crossEntropy(pooled, Tensor.zeros(out, DType.I32, in.batch()), 0f)); // the pooled vector as logits of 384 classes
            return delta.grad().copy(out);
        }
    }
}
