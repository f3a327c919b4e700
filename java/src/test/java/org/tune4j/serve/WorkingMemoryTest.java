package org.tune4j.serve;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.tune4j.autograd.Tape;
import org.tune4j.autograd.Workspace;
import org.tune4j.backend.CpuBackend;
import org.tune4j.data.TokenBatch;
import org.tune4j.nn.BertConfig;
import org.tune4j.nn.BertModel;

/**
 * {@link WorkingMemory}: the estimate of a text batch's working memory covers what the batch then takes, within 10%, at
 * MiniLM's shape; and more than half of the machine's memory is refused naming the batch and the sizes.
 */
class WorkingMemoryTest {
    @Test
    void theEstimateCoversWhatABatchTakes() {
        try (Arena arena = Arena.ofShared()) {
            BertModel model = new BertModel(arena, BertConfig.miniLmL6(), new SplittableRandom(3)); // the memory of its forward is MiniLM's, whatever the weights
            for (int[] shape : new int[][] {{4, 256}, {16, 128}, {2, 64}}) {
                int batch = shape[0], seq = shape[1];
                long estimate = WorkingMemory.textBatch(CpuBackend.get(), (t, in) -> model.forward(t, in), batch, seq);
                long taken;
                try (Workspace ws = new Workspace(); Arena step = Arena.ofConfined()) {
                    try (Tape t = new Tape(CpuBackend.get(), false, false, ws)) {
                        model.forward(t, TokenBatch.of(step, new int[batch][seq], null));
                    }
                    taken = ws.needed();
                }
                assertTrue(estimate >= taken && estimate <= 1.1 * taken, batch + " x " + seq + ": estimated " + estimate + " bytes, took " + taken);
            }
        }
    }

    @Test
    void moreThanHalfOfTheMachineIsRefusedByName() {
        long gib = 1L << 30;
        WorkingMemory.refuseBeyondHalf(5 * gib, 10 * gib, "batches of 8", "ask for less"); // half: fits
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> WorkingMemory.refuseBeyondHalf(5 * gib + 1, 10 * gib, "batches of 8", "ask for less"));
        assertTrue(e.getMessage().equals("batches of 8 need about 5120 MiB of working memory, more than there is to spare (half of this machine's 10240 MiB): ask for less"),
                e.getMessage());
    }
}
