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

    /** Many adapters over one encoder (tune4j serve's path): a mixed batch on the GPU gives the CPU's results, with no fallback. */
    @org.junit.jupiter.api.Test
    void aMixedAdapterBatchOnTheGpuIsTheCpus(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws java.io.IOException {
        var config = new org.tune4j.nn.BertConfig(40, 16, 2, 2, 24, 16, 2, 1e-12f, "gelu");
        java.nio.file.Path base = dir.resolve("base");
        java.util.List<java.nio.file.Path> adapters = new java.util.ArrayList<>();
        try (Arena arena = Arena.ofConfined()) {
            org.tune4j.io.BertCheckpoint.save(base, new org.tune4j.nn.BertModel(arena, config, new java.util.SplittableRandom(7)), null);
            for (int i = 0; i < 2; i++) {
                var rng = new java.util.SplittableRandom(i);
                BertClassifier c = new BertClassifier(arena, org.tune4j.io.BertCheckpoint.load(arena, base), BertClassifier.Pooling.MEAN, 2, rng);
                var lora = new org.tune4j.nn.Lora.Config(2 + 3 * i, 4f, 0f, false, i == 0 ? java.util.List.of("query", "value") : java.util.List.of("dense"), java.util.List.of());
                org.tune4j.nn.Lora.inject(c, arena, lora, rng);
                c.namedModules().values().forEach(m -> {
                    if (m instanceof org.tune4j.nn.LoraLinear l) for (long k = 0; k < l.loraB().value().numel(); k++) l.loraB().value().setFloat(k, (float) (rng.nextDouble() - 0.5));
                });
                adapters.add(dir.resolve("a" + i));
                org.tune4j.io.BertAdapter.save(adapters.getLast(), c, lora, "base", java.util.List.of("x", "y"));
            }
        }
        try (Arena arena = Arena.ofShared()) {
            var cpuModel = org.tune4j.io.BertCheckpoint.load(arena, base);
            var gpuModel = org.tune4j.io.BertCheckpoint.load(arena, base);
            gpuModel.moveTo(gpu.memory(), arena);
            TokenBatch in = BertGradientTest.batch(arena);
            java.util.List<String> ids = java.util.Arrays.asList("a1", null, "a0");
            try (var cpuRegistry = new org.tune4j.serve.AdapterRegistry(cpuModel, 1L << 30); var gpuRegistry = new org.tune4j.serve.AdapterRegistry(gpuModel, 1L << 30, gpu.memory());
                    var onCpu = new org.tune4j.serve.AdapterPredictor(CpuBackend.get(), cpuModel, null, cpuRegistry, 1);
                    var onGpu = new org.tune4j.serve.AdapterPredictor(gpu, gpuModel, null, gpuRegistry, 1)) {
                for (int i = 0; i < 2; i++) {
                    cpuRegistry.load("a" + i, adapters.get(i));
                    gpuRegistry.load("a" + i, adapters.get(i));
                }
                var expected = onCpu.run(arena, in, ids, false);
                gpu.resetFallbacks();
                var got = onGpu.run(arena, in, ids, false);
                assertEquals(Map.of(), gpu.fallbacks(), "ops the GPU backend ran on the CPU");
                for (int b = 0; b < 3; b++) {
                    assertClose(expected.get(b).embedding(), got.get(b).embedding(), 1e-4, "sequence " + b + " embedding");
                    if (ids.get(b) != null) assertClose(expected.get(b).probabilities(), got.get(b).probabilities(), 1e-4, "sequence " + b + " probabilities");
                }
            }
        }
    }

    /**
     * The BERT LoRA step recorded as a CUDA graph (RecordedSteps): its batch moved into device memory with its pooling
     * matrix (TokenBatch.in), the loss kept there, AdamW in the recording on a schedule that changes every step; after six
     * steps the weights are the same, bit for bit, as the same steps op by op, with nothing run on the CPU; a padded batch
     * with mean and with CLS pooling.
     */
    @ParameterizedTest(name = "{0} pooling, recorded")
    @CsvSource({"MEAN", "CLS"})
    void aRecordedBertStepReplaysTheStepOpByOpBitForBit(BertClassifier.Pooling pooling) {
        float[][] trained = new float[2][];
        String[] how = new String[2];
        for (int record = 0; record < 2; record++) {
            try (Arena arena = Arena.ofShared(); org.tune4j.autograd.Workspace ws = new org.tune4j.autograd.Workspace()) {
                BertClassifier m = BertGradientTest.model(arena, pooling, true);
                m.moveTo(gpu.memory(), arena);
                TokenBatch in = BertGradientTest.batch(arena).in(arena, gpu.memory());
                Tensor labels = Tensor.zeros(arena, DType.I32, 3);
                labels.setInt(0, 2);
                labels.setInt(2, 1);
                Tensor onGpu = labels.copy(arena, gpu.memory());
                org.tune4j.optim.AdamW opt = org.tune4j.optim.AdamW.of(arena, m.namedParameters(), 0.01f, 4f);
                Tensor schedule = gpu.memory().zeros(arena, DType.F32, 2);
                gpu.resetFallbacks();
                try (org.tune4j.backend.RecordedSteps steps = new org.tune4j.backend.RecordedSteps(gpu, () -> {
                    try (Tape t = new Tape(gpu, true, true, ws).lossOnBackend()) {
                        t.backward(t.crossEntropy(m.logits(t, in), onGpu, 0.1f));
                    }
                    opt.step(gpu, schedule); // AdamW in the recording, its rate and step read from the device
                }, record == 1)) {
                    for (int s = 0; s < 6; s++) {
                        opt.schedule(1e-2f / (1 + s), schedule);
                        steps.run();
                    }
                    how[record] = steps.how();
                }
                assertEquals(Map.of(), gpu.fallbacks(), "ops the GPU backend ran on the CPU");
                trained[record] = m.namedParameters().get("bert.encoder.layer.0.attention.self.value.lora_B").value().toFloatArray();
            }
        }
        assertEquals("op by op (recording off)", how[0]);
        assertEquals("recorded as a CUDA graph", how[1]);
        org.junit.jupiter.api.Assertions.assertArrayEquals(trained[0], trained[1], "value.lora_B after six steps");
    }

    private static float lossAndGradients(Backend backend, BertClassifier m, TokenBatch in, Tensor labels) {
        try (Tape t = new Tape(backend, true)) {
            Var loss = t.crossEntropy(m.logits(t, in), labels, 0f);
            t.backward(loss);
            return loss.value().getFloat(0);
        }
    }
}
