package org.tune4j.backend.cuda;

import static org.tune4j.train.DeviceClassifierTest.checkAttack;
import static org.tune4j.train.DeviceClassifierTest.checkLogitsAndInputGradient;
import static org.tune4j.train.DeviceClassifierTest.checkShippedVit;
import static org.tune4j.train.VitLoraStepTest.BATCH;
import static org.tune4j.train.VitLoraStepTest.checkOneBatch;
import static org.tune4j.train.VitLoraStepTest.checkThreeSteps;

import org.junit.jupiter.api.Test;
import org.tune4j.train.DeviceClassifier;
import org.tune4j.train.VitLoraStep;

/**
 * The LoRA step on the GPU against the tape on the CPU, with VitLoraStepTest's checks: the same loss and
 * adapter gradients for one batch, the same adapters after three clipped AdamW steps with LoRA+ (IEEE f32
 * GEMMs; skips: {@link GpuTest}); and the step's forward and input gradient as a Classifier (what
 * {@code --device cuda} evaluates and attacks with), with DeviceClassifierTest's checks.
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

    @Test
    void deviceClassifierGivesTheTapesLogitsAndInputGradient() {
        checkLogitsAndInputGradient(vit -> DeviceClassifier.onGpu(gpu, vit, Cublas.Precision.F32), 1e-5);
    }

    @Test
    void deviceClassifierGivesTheShippedVitsLogitsAndInputGradient() throws java.io.IOException {
        checkShippedVit(vit -> DeviceClassifier.onGpu(gpu, vit, Cublas.Precision.F32), 1e-4); // 4 blocks of cuBLAS sums in another order
    }

    @Test
    void attackThroughTheGpuStaysInItsBoxAndRaisesTheLoss() {
        checkAttack(vit -> DeviceClassifier.onGpu(gpu, vit, Cublas.Precision.F32));
    }
}
