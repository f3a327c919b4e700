import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.Arrays;
import org.tune4j.autograd.Tape;
import org.tune4j.autograd.Workspace;
import org.tune4j.backend.CpuBackend;
import org.tune4j.data.TokenBatch;
import org.tune4j.io.BertCheckpoint;
import org.tune4j.nn.BertModel;

/**
 * One jar's MiniLM no-grad forward as `bench bert` runs it (weights packed ahead, sequence 128, the bench's ids), as a
 * Runnable of one forward; VARIANT is BATCH:THREADS (1:1, 32:2). Compiled against each jar (run.sh); uses only API that
 * jars since 2026-12-03 share.
 */
public class BertForwardMaker {
    public static Runnable make(String variant) throws Exception {
        int batch = Integer.parseInt(variant.split(":")[0]);
        CpuBackend.setThreads(Integer.parseInt(variant.split(":")[1]));
        Path hf = MiniLmStep.miniLmFolder();
        Arena arena = Arena.ofShared();
        BertModel model = BertCheckpoint.load(arena, hf);
        model.packProjections(arena);
        int[] ids = new int[128];
        ids[0] = 101;
        ids[127] = 102;
        for (int i = 1; i < 127; i++) ids[i] = 2000 + (i * 37) % 20000;
        int[][] seqs = new int[batch][];
        Arrays.fill(seqs, ids);
        TokenBatch in = TokenBatch.of(arena, seqs, null);
        Workspace workspace = new Workspace();
        return () -> {
            try (Tape t = new Tape(CpuBackend.get(), false, false, workspace)) {
                model.forward(t, in);
            }
        };
    }
}
