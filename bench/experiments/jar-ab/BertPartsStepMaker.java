import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.tune4j.autograd.MicroBatches;
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
 * One jar's MiniLM training step as `bench bert` runs it since its micro-batches (the batch of 16 in PARTS equal parts,
 * sequence 128, AdamW; lora: rank 8 on query and value, the head saved), as a Runnable of one step; VARIANT is
 * METHOD:THREADS:PARTS (full:2:2). Compiled against each jar (run.sh); uses only API that jars since 2026-12-04 share
 * (MicroBatches with seeds a part).
 */
public class BertPartsStepMaker {
    public static Runnable make(String variant) throws Exception {
        String[] v = variant.split(":");
        String method = v[0];
        CpuBackend.setThreads(Integer.parseInt(v[1]));
        int parts = Integer.parseInt(v[2]);
        Path hf = Files.createTempDirectory("bert-parts-ab").resolve("minilm");
        PretrainedModels.importMiniLm(PretrainedModels.miniLmJar(), hf);
        Arena arena = Arena.ofShared();
        BertClassifier m = new BertClassifier(arena, BertCheckpoint.load(arena, hf), BertClassifier.Pooling.MEAN, 2, new SplittableRandom(1));
        if (method.equals("lora")) Lora.inject(m, arena, new Lora.Config(8, 16f, 0f, false, List.of("query", "value"), List.of("classifier")), new SplittableRandom(2));
        AdamW opt = AdamW.of(arena, m.namedParameters(), 0.01f, 1f);
        int[] ids = new int[128];
        ids[0] = 101;
        ids[127] = 102;
        for (int i = 1; i < 127; i++) ids[i] = 2000 + (i * 37) % 20000;
        MicroBatches mb = new MicroBatches(CpuBackend.get(), parts, new SplittableRandom(3));
        double[] seeds = new double[parts];
        Arrays.fill(seeds, 1.0 / parts);
        int n = 16 / parts;
        MicroBatches.PartLoss loss = (t, k) -> {
            Tensor y = Tensor.zeros(t.arena(), DType.I32, n);
            for (int b = 0; b < n; b++) y.setInt(b, (k * n + b) % 2);
            int[][] seqs = new int[n][];
            Arrays.fill(seqs, ids);
            return t.crossEntropy(m.logits(t, TokenBatch.of(t.arena(), seqs, null)), y, 0f);
        };
        return () -> {
            mb.step(loss, seeds);
            opt.step(CpuBackend.get(), 1e-5f);
        };
    }
}
