package org.tune4j.backend.cuda;

import static org.tune4j.train.VitLoraStepTest.BATCH;
import static org.tune4j.train.VitLoraStepTest.checkOneBatch;
import static org.tune4j.train.VitLoraStepTest.checkThreeSteps;

import org.junit.jupiter.api.Test;
import org.tune4j.train.VitLoraStep;

/**
 * The LoRA step on the GPU against the tape on the CPU, with VitLoraStepTest's checks: the same loss and
 * adapter gradients for one batch, the same adapters after three clipped AdamW steps with LoRA+ (IEEE f32
 * GEMMs; skips: {@link GpuTest}).
 */
class CudaVitLoraStepTest extends GpuTest {
    @Test
    void oneBatchGivesTheTapesLossAndGradients() {
        checkOneBatch((vit, clip) -> VitLoraStep.onGpu(gpu, vit, BATCH, 8f, clip, Cublas.Precision.F32), 1e-5);
    }

    @Test
    void stepsMatchClippedAdamWWithLoraPlus() {
        checkThreeSteps((vit, clip) -> VitLoraStep.onGpu(gpu, vit, BATCH, 8f, clip, Cublas.Precision.F32), 1e-4);
    }
}
