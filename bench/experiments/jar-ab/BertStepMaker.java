import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.tune4j.autograd.Tape;
import org.tune4j.autograd.Var;
import org.tune4j.autograd.Workspace;
import org.tune4j.backend.CpuBackend;
import org.tune4j.data.TokenBatch;
import org.tune4j.io.BertCheckpoint;
import org.tune4j.io.PretrainedModels;
import org.tune4j.nn.BertClassifier;
import org.tune4j.nn.Lora;
import org.tune4j.optim.AdamW;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * One jar's MiniLM training step as `bench bert` ran it before its 2 micro-batches (the batch of 16 on one tape: what
 * every jar has; -Dtune4j.bench.bert.microBatches=1 runs the bench so; sequence 128, AdamW; lora: rank 8 on query and
 * value, the head saved), as a Runnable of one step; VARIANT is METHOD:THREADS (lora:1, full:2). Compiled against
 * each jar (run.sh); uses only API that jars since 2026-12-03 share.
 */
public class BertStepMaker {
    public static Runnable make(String variant) throws Exception {
        String method = variant.split(":")[0];
        CpuBackend.setThreads(Integer.parseInt(variant.split(":")[1]));
        Path hf = Files.createTempDirectory("bert-step-ab").resolve("minilm");
        PretrainedModels.importMiniLm(PretrainedModels.miniLmJar(), hf);
        Arena arena = Arena.ofShared();
        Workspace workspace = new Workspace();
        BertClassifier m = new BertClassifier(arena, BertCheckpoint.load(arena, hf), BertClassifier.Pooling.MEAN, 2, new SplittableRandom(1));
        if (method.equals("lora")) Lora.inject(m, arena, new Lora.Config(8, 16f, 0f, false, List.of("query", "value"), List.of("classifier")), new SplittableRandom(2));
        AdamW opt = AdamW.of(arena, m.namedParameters(), 0.01f, 1f);
        int[] ids = new int[128];
        ids[0] = 101;
        ids[127] = 102;
        for (int i = 1; i < 127; i++) ids[i] = 2000 + (i * 37) % 20000;
        int[][] seqs = new int[16][];
        Arrays.fill(seqs, ids);
        TokenBatch in = TokenBatch.of(arena, seqs, null);
        Tensor labels = Tensor.zeros(arena, DType.I32, 16);
        for (int b = 0; b < 16; b++) labels.setInt(b, b % 2);
        return () -> {
            try (Tape t = new Tape(CpuBackend.get(), true, true, workspace)) {
                Var loss = t.crossEntropy(m.logits(t, in), labels, 0f);
                t.backward(loss);
            }
            opt.step(CpuBackend.get(), 1e-5f);
        };
    }
}
