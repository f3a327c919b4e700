package org.tune4j.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tune4j.train.VitStepTest.assertClose;
import static org.tune4j.train.VitStepTest.images;
import static org.tune4j.train.VitStepTest.labels;

import java.lang.foreign.Arena;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.tune4j.autograd.Parameter;
import org.tune4j.autograd.Tape;
import org.tune4j.autograd.Var;
import org.tune4j.autograd.Workspace;
import org.tune4j.backend.Backend;
import org.tune4j.backend.CpuBackend;
import org.tune4j.nn.VisionTransformer;
import org.tune4j.optim.AdamW;
import org.tune4j.optim.GradClip;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;
import org.tune4j.train.VitStepTest;

/**
 * The one tape on the GPU: the ViT of {@code nn}, its parameters moved into the CUDA backend's memory, trained by
 * the same tape, clipping and AdamW as on the CPU, for each way the main job trains (VitStepTest's kinds): the
 * same losses and the same weights after three steps, and not one op run on the CPU for want of a kernel. And the
 * boundary: a device tensor is not read from Java, and the CPU backend refuses it by name. Skips: {@link GpuTest}.
 */
class CudaTapeTest extends GpuTest {
    private static final int STEPS = 3;
    private static final float LR = 1e-2f;

    @Test
    void theTapeTrainsEveryKindOfVitOnTheGpuAsOnTheCpuWithoutFallingBack() {
        for (VitStepTest.Kind kind : VitStepTest.kinds()) {
            try (Arena arena = Arena.ofConfined()) {
                VisionTransformer onCpu = kind.model().apply(arena), onGpu = kind.model().apply(arena);
                onGpu.moveTo(gpu.memory(), arena);
                float[] cpuLosses = train(CpuBackend.get(), onCpu, kind, arena);
                gpu.resetFallbacks();
                float[] gpuLosses = train(gpu, onGpu, kind, arena);
                assertEquals(Map.of(), gpu.fallbacks(), kind.name() + ": ops the GPU backend ran on the CPU");
                assertClose(cpuLosses, gpuLosses, 1e-5, kind.name() + ": losses of " + STEPS + " steps");
                Map<String, Parameter> gpuParams = onGpu.namedParameters();
                onCpu.namedParameters().forEach((name, p) -> {
                    if (!p.trainable()) return;
                    assertTrue(!gpuParams.get(name).value().isHost(), name + " lives on the GPU");
                    float[] cpu = p.value().toFloatArray(), cuda = gpuParams.get(name).value().toFloatArray();
                    if (name.endsWith("qkv.bias")) { // the key bias: zero gradient in exact arithmetic (each softmax row shifts by q·b_k),
                        int d = cpu.length / 3;      // so AdamW steps it by the sign of rounding noise: within lr per step of the CPU's
                        for (int i = d; i < 2 * d; i++) assertEquals(cpu[i], cuda[i], STEPS * LR * 1.01, name + " [" + i + "], a key bias");
                        for (int i = d; i < 2 * d; i++) cuda[i] = cpu[i];
                    }
                    assertClose(cpu, cuda, 1e-4, kind.name() + ": " + name + " after training");
                });
            }
        }
    }

    /** STEPS clipped AdamW steps of the tape on a workspace, as Trainer.fit takes them; the loss of each. */
    private static float[] train(Backend backend, VisionTransformer vit, VitStepTest.Kind kind, Arena arena) {
        AdamW optimizer = AdamW.of(arena, vit.namedParameters(), kind.weightDecay(), kind.loraPlusRatio());
        float[] losses = new float[STEPS];
        try (Workspace workspace = new Workspace()) {
            for (int s = 0; s < STEPS; s++) {
                try (Arena batch = Arena.ofConfined(); Tape t = new Tape(backend, true, true, workspace)) {
                    Var loss = t.crossEntropy(vit.logits(t, images(batch, 21 + s), false), labels(batch), kind.labelSmoothing());
                    losses[s] = loss.value().getFloat(0);
                    t.backward(loss);
                }
                GradClip.clipGlobalNorm(backend, optimizer.parameters().values(), 0.5);
                optimizer.step(backend, LR);
            }
        }
        return losses;
    }

    @Test
    void deviceTensorsAreNotReadFromJavaAndTheCpuBackendRefusesThemByName() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor d = gpu.memory().zeros(arena, DType.F32, 2, 3), h = Tensor.zeros(arena, DType.F32, 2, 3);
            IllegalStateException read = assertThrows(IllegalStateException.class, () -> d.getFloat(0, 0));
            assertTrue(read.getMessage().contains("cuda:0"), read.getMessage());
            IllegalArgumentException cpu = assertThrows(IllegalArgumentException.class, () -> CpuBackend.get().add(h, d, h));
            assertTrue(cpu.getMessage().startsWith("b lives in cuda:0 memory"), cpu.getMessage());
            h.setFloat(1, 2, 7f);
            d.copyFrom(h);
            Tensor back = d.copy(arena, org.tune4j.tensor.Memory.HOST);
            assertEquals(7f, back.getFloat(1, 2));
            Tensor column = Tensor.zeros(arena, DType.F32, 2, 1);
            column.copyFrom(d.view(0, 2, 2, 1)); // a strided device view to the host
            assertEquals(7f, column.getFloat(1, 0));
        }
    }
}
