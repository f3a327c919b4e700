package org.tune4j.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.tune4j.train.VitLoraStepTest.BATCH;
import static org.tune4j.train.VitLoraStepTest.SMALL;
import static org.tune4j.train.VitLoraStepTest.assertClose;
import static org.tune4j.train.VitLoraStepTest.images;
import static org.tune4j.train.VitLoraStepTest.labels;
import static org.tune4j.train.VitLoraStepTest.model;
import static org.tune4j.train.VitLoraStepTest.tapeLossAndGradients;

import java.lang.foreign.Arena;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.tune4j.backend.CpuBackend;
import org.tune4j.nn.VisionTransformer;
import org.tune4j.optim.AdamW;
import org.tune4j.optim.GradClip;
import org.tune4j.tensor.Tensor;
import org.tune4j.train.VitLoraStep;

/**
 * The LoRA step on the GPU against the tape on the CPU, as VitLoraStepTest checks it on the host: the
 * same loss and adapter gradients for one batch, the same adapters after three clipped AdamW steps with
 * LoRA+ (IEEE f32 GEMMs; skips: {@link GpuTest}).
 */
class CudaVitLoraStepTest extends GpuTest {
    @Test
    void oneBatchGivesTheTapesLossAndGradients() {
        try (Arena arena = Arena.ofConfined()) {
            VisionTransformer vit = model(arena);
            Tensor x = images(arena, 21), y = labels(arena);
            float tapeLoss = tapeLossAndGradients(vit, x, y);
            try (VitLoraStep<DeviceTensor> step = VitLoraStep.onGpu(gpu, vit, BATCH, 8f, 1f, Cublas.Precision.F32)) {
                step.computeGradients(x, y);
                assertEquals(tapeLoss, step.loss(), 1e-5 * Math.max(1, Math.abs(tapeLoss)), "loss");
                Map<String, float[]> grads = step.gradients();
                assertEquals(2 * 4 * SMALL.depth(), grads.size());
                grads.forEach((name, g) -> assertClose(vit.namedParameters().get(name).grad().toFloatArray(), g, 1e-4, name + " gradient"));
            }
        }
    }

    @Test
    void stepsMatchClippedAdamWWithLoraPlus() {
        try (Arena arena = Arena.ofConfined()) {
            VisionTransformer tapeVit = model(arena), gpuVit = model(arena);
            Tensor y = labels(arena);
            AdamW opt = AdamW.of(arena, tapeVit.namedParameters(), 0.01f, 8f);
            float[] lrs = {1e-2f, 5e-3f, 2e-3f};
            try (VitLoraStep<DeviceTensor> step = VitLoraStep.onGpu(gpu, gpuVit, BATCH, 8f, 0.5f, Cublas.Precision.F32)) {
                for (int s = 0; s < lrs.length; s++) {
                    Tensor x = images(arena, 30 + s);
                    tapeLossAndGradients(tapeVit, x, y);
                    GradClip.clipGlobalNorm(CpuBackend.get(), opt.parameters().values(), 0.5);
                    opt.step(CpuBackend.get(), lrs[s]);
                    step.step(x, y, lrs[s]);
                }
                step.copyAdaptersBack();
            }
            opt.parameters().forEach((name, p) -> assertClose(p.value().toFloatArray(), gpuVit.namedParameters().get(name).value().toFloatArray(), 1e-4,
                    name + " after 3 steps"));
        }
    }
}
