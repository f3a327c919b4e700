import java.util.Arrays;
import org.tune4j.autograd.Tape;
import org.tune4j.autograd.Var;
import org.tune4j.autograd.Workspace;
import org.tune4j.backend.CpuBackend;
import org.tune4j.data.TokenBatch;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * One jar's MiniLM training step as `bench bert` ran it before its 2 micro-batches (the batch of 16 on one tape: what
 * every jar has; -Dtune4j.bench.bert.microBatches=1 runs the bench so; sequence 128, AdamW; lora: rank 8 on query and
 * value, the head saved), as a Runnable of one step; VARIANT is METHOD:THREADS (lora:1, full:2). Compiled against
 * each jar (run.sh) with MiniLmStep; uses only API that jars since 2026-12-03 share.
 */
public class BertStepMaker {
    public static Runnable make(String variant) throws Exception {
        MiniLmStep s = new MiniLmStep(variant.split(":")[0], Integer.parseInt(variant.split(":")[1]));
        Workspace workspace = new Workspace();
        int[][] seqs = new int[16][];
        Arrays.fill(seqs, s.ids);
        TokenBatch in = TokenBatch.of(s.arena, seqs, null);
        Tensor labels = Tensor.zeros(s.arena, DType.I32, 16);
        for (int b = 0; b < 16; b++) labels.setInt(b, b % 2);
        return () -> {
            try (Tape t = new Tape(CpuBackend.get(), true, true, workspace)) {
                Var loss = t.crossEntropy(s.model.logits(t, in), labels, 0f);
                t.backward(loss);
            }
            s.optimizer.step(CpuBackend.get(), 1e-5f);
        };
    }
}
