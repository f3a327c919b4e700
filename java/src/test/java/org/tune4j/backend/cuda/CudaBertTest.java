package org.tune4j.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.tune4j.train.VitFixtures.assertClose;

import java.lang.foreign.Arena;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.tune4j.autograd.Parameter;
import org.tune4j.autograd.Tape;
import org.tune4j.autograd.Var;
import org.tune4j.backend.Backend;
import org.tune4j.backend.CpuBackend;
import org.tune4j.bert.BertGradientTest;
import org.tune4j.data.TokenBatch;
import org.tune4j.nn.BertClassifier;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * The BERT classifier of {@code nn}, written once, on the GPU: BertGradientTest's small model (padded sequences of 5,
 * 3 and 1 tokens, masked attention, erf GELU, mean or CLS pooling; LoRA on query and value with the head, or every
 * weight) moved into the CUDA backend's memory gives the CPU's loss and gradients, and no op runs on the CPU for
 * want of a kernel (embedding rows, masked attention and erf GELU included). Skips: {@link GpuTest}.
 */
class CudaBertTest extends GpuTest {
    @ParameterizedTest(name = "{0} pooling, lora {1}")
    @CsvSource({"MEAN, true", "CLS, true", "MEAN, false"})
    void lossAndGradientsOnTheGpuAreTheCpusWithoutFallingBack(BertClassifier.Pooling pooling, boolean lora) {
        try (Arena arena = Arena.ofConfined()) {
            BertClassifier onCpu = BertGradientTest.model(arena, pooling, lora), onGpu = BertGradientTest.model(arena, pooling, lora);
            onGpu.moveTo(gpu.memory(), arena);
            TokenBatch in = BertGradientTest.batch(arena);
            Tensor labels = Tensor.zeros(arena, DType.I32, 3);
            labels.setInt(0, 2);
            labels.setInt(1, 0);
            labels.setInt(2, 1);
            float cpuLoss = lossAndGradients(CpuBackend.get(), onCpu, in, labels);
            gpu.resetFallbacks();
            float gpuLoss = lossAndGradients(gpu, onGpu, in, labels);
            assertEquals(Map.of(), gpu.fallbacks(), "ops the GPU backend ran on the CPU");
            assertEquals(cpuLoss, gpuLoss, 1e-5 * Math.max(1, Math.abs(cpuLoss)), "loss");
            Map<String, Parameter> gpuParams = onGpu.namedParameters();
            int checked = 0;
            for (Map.Entry<String, Parameter> e : onCpu.namedParameters().entrySet()) {
                if (!e.getValue().trainable()) continue;
                checked++;
                if (e.getKey().endsWith("key.bias")) { // zero in exact arithmetic (q·b_k moves a query's scores alike): rounding noise on both
                    for (float g : gpuParams.get(e.getKey()).grad().toFloatArray()) assertEquals(0f, g, 1e-6f, e.getKey() + " gradient");
                    continue;
                }
                assertClose(e.getValue().grad().toFloatArray(), gpuParams.get(e.getKey()).grad().toFloatArray(), 1e-4, e.getKey() + " gradient");
            }
            assertEquals(lora ? 2 * 2 * 2 + 2 : 5 + 2 * 16 + 2, checked, "trainable parameters compared");
        }
    }

    private static float lossAndGradients(Backend backend, BertClassifier m, TokenBatch in, Tensor labels) {
        try (Tape t = new Tape(backend, true)) {
            Var loss = t.crossEntropy(m.logits(t, in), labels, 0f);
            t.backward(loss);
            return loss.value().getFloat(0);
        }
    }
}
