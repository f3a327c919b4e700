package org.tune4j.autograd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.tune4j.backend.CpuBackend;
import org.tune4j.nn.VisionTransformer;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * Steps that reuse one workspace compute the same bits as steps with fresh, zeroed memory; a step's
 * tensors die with its tape even though their memory lives on; one tape at a time.
 */
class TapeWorkspaceTest {
    private static final VisionTransformer.Config TINY = new VisionTransformer.Config(28, 7, 32, 2, 2, 64, 10);

    /** Three forward/backward passes with input gradients; the last pass's logits and gradients. */
    private static float[] steps(Workspace ws) {
        try (Arena arena = Arena.ofConfined()) {
            VisionTransformer vit = new VisionTransformer(arena, TINY, new SplittableRandom(3));
            SplittableRandom rng = new SplittableRandom(4);
            Tensor x = Tensor.zeros(arena, DType.F32, 5, 784), y = Tensor.zeros(arena, DType.I32, 5);
            float[] out = null;
            for (int step = 0; step < 3; step++) {
                for (long i = 0; i < x.numel(); i++) x.setFloat(i, rng.nextFloat());
                for (int i = 0; i < 5; i++) y.setInt(i, rng.nextInt(10));
                try (Tape t = new Tape(CpuBackend.get(), true, true, ws)) {
                    Var in = t.input(x, true);
                    Var logits = vit.logits(t, in);
                    t.backward(t.crossEntropy(logits, y, 0.1f));
                    float[] l = logits.value().toFloatArray(), g = in.grad().toFloatArray();
                    out = new float[l.length + g.length];
                    System.arraycopy(l, 0, out, 0, l.length);
                    System.arraycopy(g, 0, out, l.length, g.length);
                }
            }
            return out;
        }
    }

    @Test
    void reusedMemoryGivesTheSameBitsAsFreshMemory() {
        float[] fresh = steps(null);
        try (Workspace ws = new Workspace()) {
            float[] reused = steps(ws);
            assertArrayEquals(fresh, reused, 0f);
            assertTrue(ws.capacity() > 0, "the workspace grew to the step's size");
        }
    }

    @Test
    void tensorsDieWithTheirTapeAndOneTapeAtATime() {
        try (Workspace ws = new Workspace()) {
            Tensor kept;
            try (Tape t = new Tape(CpuBackend.get(), false, true, ws)) {
                kept = t.zeros(3, 4);
                assertEquals(0f, kept.getFloat(1, 2));
                assertThrows(IllegalStateException.class, () -> new Tape(CpuBackend.get(), false, true, ws));
            }
            assertThrows(IllegalStateException.class, () -> kept.getFloat(0, 0), "a closed step's tensor is not readable");
            try (Tape t = new Tape(CpuBackend.get(), false, true, ws)) {
                Tensor z = t.zeros(3, 4); // the same memory as `kept`, zeroed again
                for (long i = 0; i < z.numel(); i++) assertEquals(0f, z.getFloat(i));
            }
        }
    }

    @Test
    void aNoGradForwardFreesEachLayersActivationsAndGivesTheSameBits() {
        // a layer's activations well over StepMemory.MIN_FREED, below which a stage keeps its memory rather than copy its output
        var config = new org.tune4j.nn.BertConfig(50, 32, 4, 2, 64, 128, 2, 1e-12f, "gelu");
        try (Arena arena = Arena.ofConfined(); Workspace ws = new Workspace()) {
            var bert = new org.tune4j.nn.BertModel(arena, config, new SplittableRandom(2));
            int[][] ids = new int[6][];
            for (int b = 0; b < ids.length; b++) {
                ids[b] = new int[120 - 7 * b]; // lengths 120 down to 85: padding masked
                for (int i = 0; i < ids[b].length; i++) ids[b][i] = 1 + (i * 7 + b) % 49;
            }
            var in = org.tune4j.data.TokenBatch.of(arena, ids, null);
            float[] fresh;
            long total;
            try (Tape t = new Tape(CpuBackend.get(), false)) {
                fresh = bert.forward(t, in).value().toFloatArray();
                total = t.allocatedBytes();
            }
            for (int step = 0; step < 3; step++) { // the first step sizes the workspace, the next ones run in it
                try (Tape t = new Tape(CpuBackend.get(), false, false, ws)) {
                    assertArrayEquals(fresh, bert.forward(t, in).value().toFloatArray(), 0f, "step " + step);
                }
            }
            assertTrue(ws.needed() > 0 && ws.needed() < total / 2, "a layer's activations at a time: " + ws.needed() + " bytes of " + total);
            assertTrue(ws.capacity() >= ws.needed());
        }
    }

    /**
     * A workspace's first step has no room yet: what a stage made beyond the slab is freed at keepOnly all the same (a
     * tensor of it can no longer be read), so a first batch holds one stage's activations, and keep is moved out intact.
     */
    @Test
    void aFirstStepFreesEachStagesMemoryBeyondTheSlab() {
        Workspace.freePooled(); // else a slab an earlier test left could hold the first step
        try (Workspace ws = new Workspace()) {
            for (int step = 0; step < 2; step++) { // the first outgrows the (empty) slab, the second runs in it
                try (Tape t = new Tape(CpuBackend.get(), false, false, ws)) {
                    long mark = t.mark();
                    Tensor scratch = t.empty(512, 1024), out = t.empty(8, 16); // 2 MB of a stage's activations, its output
                    for (int i = 0; i < 128; i++) out.segment().setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, i, i * 0.5f);
                    Var kept = t.keepOnly(mark, new Var(out, false, null));
                    if (step == 0) assertThrows(IllegalStateException.class, () -> scratch.segment().get(java.lang.foreign.ValueLayout.JAVA_FLOAT, 0), "freed");
                    for (int i = 0; i < 128; i++) assertEquals(i * 0.5f, kept.value.segment().getAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, i));
                }
            }
        }
    }
}
