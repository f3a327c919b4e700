package org.tune4j.bert;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.tune4j.autograd.Workspace;
import org.tune4j.backend.CpuBackend;
import org.tune4j.eval.EvaluateText;
import org.tune4j.nn.BertClassifier;
import org.tune4j.nn.BertConfig;
import org.tune4j.nn.BertModel;

/** Evaluation on a caller's workspace, kept over many calls, gives what a fresh workspace per call gives. */
class EvaluateTextTest {
    @Test
    void aWorkspaceKeptOverCallsGivesTheSameOutputsAndIsNotGrownAgain() {
        SplittableRandom rng = new SplittableRandom(4);
        int[][] ids = new int[21][];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = new int[2 + rng.nextInt(14)];
            for (int t = 0; t < ids[i].length; t++) ids[i][t] = rng.nextInt(30);
        }
        try (Arena arena = Arena.ofShared(); Workspace ws = new Workspace()) {
            SplittableRandom init = new SplittableRandom(5);
            BertClassifier m = new BertClassifier(arena, new BertModel(arena, new BertConfig(30, 16, 2, 2, 32, 16, 2, 1e-12f, "gelu"), init), BertClassifier.Pooling.MEAN, 2, init);
            EvaluateText.Outputs fresh = EvaluateText.outputs(CpuBackend.get(), m, ids, 8);
            EvaluateText.Outputs first = EvaluateText.outputs(CpuBackend.get(), m, ids, 8, ws);
            long held = ws.capacity();
            assertTrue(held > 0, "the workspace holds the largest batch's memory after the call");
            for (int call = 0; call < 3; call++) {
                EvaluateText.Outputs again = call == 0 ? first : EvaluateText.outputs(CpuBackend.get(), m, ids, 8, ws);
                for (int i = 0; i < ids.length; i++) {
                    assertArrayEquals(fresh.logits()[i], again.logits()[i], "logits of sequence " + i + ", call " + call);
                    assertArrayEquals(fresh.pooled()[i], again.pooled()[i], "pooled vector of sequence " + i + ", call " + call);
                }
            }
            assertArrayEquals(EvaluateText.predict(CpuBackend.get(), m, ids, 8), EvaluateText.predict(CpuBackend.get(), m, ids, 8, ws));
            assertArrayEquals(EvaluateText.pooled(CpuBackend.get(), m, ids, 5)[20], EvaluateText.pooled(CpuBackend.get(), m, ids, 5, ws)[20]);
            assertEquals(held, ws.capacity(), "later calls of no larger batches reuse the memory");
        }
    }
}
