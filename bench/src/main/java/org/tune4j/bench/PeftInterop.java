package org.tune4j.bench;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.tune4j.autograd.Tape;
import org.tune4j.backend.CpuBackend;
import org.tune4j.data.TokenBatch;
import org.tune4j.io.BertAdapter;
import org.tune4j.io.BertCheckpoint;
import org.tune4j.io.Safetensors;
import org.tune4j.nn.BertClassifier;
import org.tune4j.nn.BertConfig;
import org.tune4j.nn.BertModel;
import org.tune4j.nn.Lora;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;
import org.tune4j.train.TextTrainer;

/**
 * Issue 18's interop check, the half that needs Java: a small BERT with random weights (Hugging Face's module names,
 * MiniLM's erf GELU and LayerNorm eps; small, so that it travels to the GPU machine where PEFT is), LoRA (rank 8) on
 * query and value trained here for a few steps on random labels (so that B is off zero and the adapter moves the
 * output), written as a Hugging Face checkpoint
 * ({@code base/}) and a PEFT adapter with tune4j's head beside it ({@code adapter/}, {@link BertAdapter}); then
 * {@code expected.safetensors}: padded input ids and attention mask of sequences of different lengths, and tune4j's
 * last_hidden_state and logits on them. {@code bench/gpu/peft_interop.py} loads the two folders with transformers
 * and PEFT and compares. Usage: {@code PeftInterop DIR}.
 */
public final class PeftInterop {
    /** The small BERT: 1000 ids, 64 wide, 2 layers of 4 heads, FFN 128, 32 positions. */
    static final BertConfig CONFIG = new BertConfig(1000, 64, 2, 4, 128, 32, 2, 1e-12f, "gelu");
    static final List<String> CLASSES = List.of("a", "b", "c");
    static final int[] LENGTHS = {7, 19, 12};

    private PeftInterop() {}

    public static void main(String[] args) throws IOException {
        if (args.length != 1) {
            System.err.println("usage: PeftInterop DIR");
            System.exit(2);
        }
        write(Path.of(args[0]));
        System.out.println("wrote " + args[0] + "/base, /adapter and /expected.safetensors");
    }

    /** [CLS] then random ids, {@code length} in all. */
    private static int[] sequence(SplittableRandom rng, int length) {
        int[] ids = new int[length];
        ids[0] = 101;
        for (int i = 1; i < length; i++) ids[i] = 1 + rng.nextInt(CONFIG.vocabSize() - 1);
        return ids;
    }

    /** {@code n} sequences of 4 to 20 ids. */
    private static int[][] sequences(SplittableRandom rng, int n) {
        int[][] out = new int[n][];
        for (int i = 0; i < n; i++) out[i] = sequence(rng, 4 + rng.nextInt(17));
        return out;
    }

    /** Writes base/, adapter/ and expected.safetensors into {@code dir}. */
    static void write(Path dir) throws IOException {
        SplittableRandom rng = new SplittableRandom(18);
        CpuBackend cpu = CpuBackend.get();
        try (Arena arena = Arena.ofShared()) {
            BertClassifier model = new BertClassifier(arena, new BertModel(arena, CONFIG, rng), BertClassifier.Pooling.MEAN, CLASSES.size(), rng);
            BertCheckpoint.save(dir.resolve("base"), model.bert(), null);
            Lora.Config lora = new Lora.Config(8, 16f, 0f, false, List.of("query", "value"), List.of());
            Lora.inject(model, arena, lora, rng);
            int[][] train = sequences(rng, 12);
            int[] labels = new int[train.length];
            for (int i = 0; i < labels.length; i++) labels[i] = rng.nextInt(CLASSES.size());
            TextTrainer.fit(cpu, model, train, labels, new TextTrainer.Options(4, 4, 1, 1e-2f, 0f, 0f, 0, 18), line -> {}); // B moves off zero
            BertAdapter.save(dir.resolve("adapter"), model, lora, "tune4j-peft-interop-random-bert", CLASSES);

            int[][] ids = new int[LENGTHS.length][];
            for (int s = 0; s < ids.length; s++) ids[s] = sequence(rng, LENGTHS[s]);
            TokenBatch in = TokenBatch.of(arena, ids, null);
            Map<String, Tensor> expected = new LinkedHashMap<>();
            Tensor inputIds = Tensor.zeros(arena, DType.I32, in.batch(), in.seq()), mask = Tensor.zeros(arena, DType.I32, in.batch(), in.seq());
            for (int s = 0; s < ids.length; s++) {
                for (int i = 0; i < ids[s].length; i++) {
                    inputIds.setInt((long) s * in.seq() + i, ids[s][i]);
                    mask.setInt((long) s * in.seq() + i, 1);
                }
            }
            expected.put("input_ids", inputIds);
            expected.put("attention_mask", mask);
            try (Tape t = new Tape(cpu, false)) {
                expected.put("last_hidden_state", model.bert().forward(t, in).value().copy(arena));
                expected.put("logits", model.logits(t, in).value().copy(arena));
            }
            Safetensors.write(dir.resolve("expected.safetensors"), expected, Map.of("hidden", String.valueOf(CONFIG.hidden())));
        }
    }
}
