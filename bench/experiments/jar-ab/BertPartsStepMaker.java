import java.util.Arrays;
import java.util.SplittableRandom;
import org.tune4j.autograd.MicroBatches;
import org.tune4j.backend.CpuBackend;
import org.tune4j.data.TokenBatch;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * One jar's MiniLM training step as `bench bert` runs it since its micro-batches (the batch of 16 in PARTS equal parts,
 * sequence 128, AdamW; lora: rank 8 on query and value, the head saved), as a Runnable of one step; VARIANT is
 * METHOD:THREADS:PARTS (full:2:2). Compiled against each jar (run.sh) with MiniLmStep; uses only API that jars since 2026-12-04 share
 * (MicroBatches with seeds a part).
 */
public class BertPartsStepMaker {
    public static Runnable make(String variant) throws Exception {
        String[] v = variant.split(":");
        MiniLmStep s = new MiniLmStep(v[0], Integer.parseInt(v[1]));
        int parts = Integer.parseInt(v[2]);
        MicroBatches mb = new MicroBatches(CpuBackend.get(), parts, new SplittableRandom(3));
        double[] seeds = new double[parts];
        Arrays.fill(seeds, 1.0 / parts);
        int n = 16 / parts;
        MicroBatches.PartLoss loss = (t, k) -> {
            Tensor y = Tensor.zeros(t.arena(), DType.I32, n);
            for (int b = 0; b < n; b++) y.setInt(b, (k * n + b) % 2);
            int[][] seqs = new int[n][];
            Arrays.fill(seqs, s.ids);
            return t.crossEntropy(s.model.logits(t, TokenBatch.of(t.arena(), seqs, null)), y, 0f);
        };
        return () -> {
            mb.step(loss, seeds);
            s.optimizer.step(CpuBackend.get(), 1e-5f);
        };
    }
}
