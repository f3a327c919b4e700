package org.tune4j.backend.cuda;

import static org.tune4j.train.DeviceClassifierTest.checkAttack;
import static org.tune4j.train.DeviceClassifierTest.checkLogitsAndInputGradient;
import static org.tune4j.train.DeviceClassifierTest.checkShippedVit;
import static org.tune4j.train.VitStepTest.BATCH;
import static org.tune4j.train.VitStepTest.checkAlternatingBatchSizes;
import static org.tune4j.train.VitStepTest.checkOneBatch;
import static org.tune4j.train.VitStepTest.checkThreeSteps;

import org.junit.jupiter.api.Test;
import org.tune4j.train.DeviceClassifier;
import org.tune4j.train.VitStep;

/**
 * The ViT step on the GPU against the tape on the CPU, with VitStepTest's checks for each way the main job
 * trains (LoRA, LoRA with the head, full, head only): the same loss and gradients for one batch, the same
 * weights after three clipped AdamW steps (IEEE f32 GEMMs; skips: {@link GpuTest}); and the step's forward
 * and input gradient as a Classifier (what {@code --device cuda} evaluates and attacks with), with
 * DeviceClassifierTest's checks.
 */
class CudaVitStepTest extends GpuTest {
    @Test
    void oneBatchGivesTheTapesLossAndGradients() {
        checkOneBatch((vit, training) -> VitStep.onGpu(gpu, vit, BATCH, training, Cublas.Precision.F32), 1e-5);
    }

    @Test
    void stepsMatchClippedAdamW() {
        checkThreeSteps((vit, training) -> VitStep.onGpu(gpu, vit, BATCH, training, Cublas.Precision.F32), 1e-4);
    }

    @Test
    void batchesOfTwoSizesRecordAndReplayTheirOwnGraphs() {
        checkAlternatingBatchSizes((vit, training) -> VitStep.onGpu(gpu, vit, BATCH, training, Cublas.Precision.F32), 1e-4);
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
