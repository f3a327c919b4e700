package org.tune4j.bench;

import java.lang.foreign.Arena;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Consumer;
import org.tune4j.autograd.Tape;
import org.tune4j.autograd.Var;
import org.tune4j.autograd.Workspace;
import org.tune4j.backend.Backend;
import org.tune4j.backend.CpuBackend;
import org.tune4j.backend.RecordedSteps;
import org.tune4j.backend.cuda.Cublas;
import org.tune4j.backend.cuda.CudaBackend;
import org.tune4j.data.TokenBatch;
import org.tune4j.nn.BertClassifier;
import org.tune4j.nn.BertConfig;
import org.tune4j.nn.BertModel;
import org.tune4j.nn.Lora;
import org.tune4j.optim.AdamW;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * Issue 18's GPU figure: MiniLM's LoRA training step (r 8, alpha 16 on query and value, the head trained, batch 16 of
 * 128 tokens, AdamW: what {@code bench bert} times on the CPU) through the tape on the CUDA backend, its GEMMs in f32,
 * TF32 and bf16 tensor cores ({@link Cublas.Precision}), recorded as a CUDA graph (and in f32 also op by op), beside the
 * same step on the CPU backend of the machine. The
 * encoder's weights are drawn at random in MiniLM's shapes: a step's cost does not depend on their values, and no
 * checkpoint has to travel to the GPU machine. PEFT's step on the same shapes: torch_peers.py. {@code --quick} runs a
 * 2-layer model on 32 tokens (a smoke run of the path, as the CUDA emulator can).
 */
final class GpuBertStep {
    private static final int BATCH = 16;

    private GpuBertStep() {}

    static void addRows(List<BenchRow> rows, CudaBackend gpu, String card, boolean quick, Consumer<String> progress) {
        BertConfig mini = BertConfig.miniLmL6();
        BertConfig c = quick ? new BertConfig(mini.vocabSize(), mini.hidden(), 2, mini.heads(), mini.intermediate(), 64, 2, mini.layerNormEps(), mini.hiddenAct()) : mini;
        int seq = quick ? 32 : 128;
        try (Arena arena = Arena.ofShared()) {
            TokenBatch in = TokenBatch.of(arena, BertSuite.batchOf(BertSuite.sequenceIds(seq), BATCH), null);
            Tensor labels = Tensor.zeros(arena, DType.I32, BATCH);
            for (int b = 0; b < BATCH; b++) labels.setInt(b, b % 2);
            progress.accept("gpu: MiniLM's LoRA step on the CPU backend (the row's peer)");
            double cpuMs;
            try (Workspace workspace = new Workspace()) {
                cpuMs = new Measure(1, quick ? 1 : 3, 0).medianMs(step(CpuBackend.get(), model(arena, c), arena, workspace, in, labels));
            }
            double flops = 2 * BertSuite.forwardFlops(c, seq) * BATCH; // LoRA: the forward and the input gradients, no weight gradients
            String shape = String.format("%s b%d seq %d r8 q,v", quick ? "2-layer MiniLM" : "MiniLM-L6", BATCH, seq);
            String peer = String.format("tune4j CPU backend (tape), same step, %d cores here (%.1f seq/s)", CpuBackend.threads(), BATCH / (cpuMs / 1e3));
            TokenBatch onGpu = in.in(arena, gpu.memory()); // ids, lengths, pooling and labels in device memory: nothing from the host in a step
            Tensor labelsOnGpu = labels.copy(arena, gpu.memory());
            for (Cublas.Precision precision : Cublas.Precision.values())
                for (boolean record : precision == Cublas.Precision.F32 ? new boolean[] {true, false} : new boolean[] {true}) {
                    progress.accept("gpu: MiniLM's LoRA step, GEMMs " + precision + (record ? "" : ", op by op"));
                    gpu.setGemmPrecision(precision);
                    BertClassifier m = model(arena, c);
                    m.moveTo(gpu.memory(), arena);
                    gpu.resetFallbacks();
                    double ms;
                    String how;
                    AdamW opt = AdamW.of(arena, m.namedParameters(), 0.01f, 1f);
                    Tensor schedule = gpu.memory().zeros(arena, DType.F32, 2); // AdamW's rate and step, read on the device by the recorded update
                    try (Workspace workspace = new Workspace(); RecordedSteps steps = new RecordedSteps(gpu, tapeStep(gpu, m, opt, schedule, workspace, onGpu, labelsOnGpu), record)) {
                        ms = GpuSuite.gpuMs(gpu, quick ? 2 : 20, () -> {
                            opt.schedule(1e-5f, schedule);
                            steps.run();
                        });
                        how = steps.how();
                    }
                    String fellBack = GpuSuite.fallbackNote(gpu);
                    rows.add(BenchRow.of("gpu", "bert_lora_step" + (record ? "" : "_no_graph"), String.format("%s (%.0f seq/s, %s%s)", shape, BATCH / (ms / 1e3), how, fellBack),
                            precision.name().toLowerCase(java.util.Locale.ROOT), 0, "cuda " + card, ms, flops, "GFLOP/s", peer, cpuMs, 0));
                }
        } finally {
            gpu.setGemmPrecision(Cublas.Precision.F32);
        }
    }

    /** A classifier over a BERT of config c, its weights drawn at random, LoRA r 8 on query and value, the head trained (bench bert's). */
    private static BertClassifier model(Arena arena, BertConfig c) {
        SplittableRandom rng = new SplittableRandom(1);
        BertClassifier m = new BertClassifier(arena, new BertModel(arena, c, rng), BertClassifier.Pooling.MEAN, 2, rng);
        Lora.inject(m, arena, new Lora.Config(8, 16f, 0f, false, List.of("query", "value"), List.of("classifier")), new SplittableRandom(2));
        return m;
    }

    /** A step on a GPU as {@link RecordedSteps} records it: forward, backward (the loss kept on the device), AdamW on its schedule there. */
    private static Runnable tapeStep(Backend backend, BertClassifier m, AdamW opt, Tensor schedule, Workspace workspace, TokenBatch in, Tensor labels) {
        return () -> {
            try (Tape t = new Tape(backend, true, true, workspace).lossOnBackend()) {
                t.backward(t.crossEntropy(m.logits(t, in), labels, 0f));
            }
            opt.step(backend, schedule);
        };
    }

    /** One step on backend: the tape on workspace, then AdamW. */
    private static Runnable step(Backend backend, BertClassifier m, Arena arena, Workspace workspace, TokenBatch in, Tensor labels) {
        AdamW opt = AdamW.of(arena, m.namedParameters(), 0.01f, 1f);
        return () -> {
            try (Tape t = new Tape(backend, true, true, workspace)) {
                Var loss = t.crossEntropy(m.logits(t, in), labels, 0f);
                t.backward(loss);
            }
            opt.step(backend, 1e-5f);
        };
    }
}
