package org.tune4j.bench;

import java.lang.foreign.Arena;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Consumer;
import org.tune4j.autograd.Tape;
import org.tune4j.autograd.Var;
import org.tune4j.backend.CpuBackend;
import org.tune4j.backend.cuda.Cublas;
import org.tune4j.backend.cuda.CudaBackend;
import org.tune4j.data.FashionMnist;
import org.tune4j.data.ImageDataset;
import org.tune4j.experiments.Adaptation;
import org.tune4j.io.ModelFile;
import org.tune4j.nn.Lora;
import org.tune4j.nn.VisionTransformer;
import org.tune4j.optim.AdamW;
import org.tune4j.optim.GradClip;
import org.tune4j.train.TrainingSteps;
import org.tune4j.train.Trainer;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;
import org.tune4j.autograd.Workspace;
import org.tune4j.backend.Backend;
import org.tune4j.experiments.Pretraining;

/**
 * The main job's training steps (the shipped ViT; LoRA with the demo's adapters and LoRA+, and full
 * fine-tuning; clipping and AdamW) through the tape on the CUDA backend: Trainer.fit's step there ({@code TrainingSteps}:
 * the model's parameters in device memory, the step recorded as a CUDA graph, and in f32 also op by op, to show what the
 * graph saves), in each GEMM precision, beside the same step on the CPU backend of the same machine (all cores), at the
 * demo's batch of 64 and at 512. Each row says how the step ran and how many ops fell back to the CPU.
 */
final class GpuVitStep {
    private GpuVitStep() {}

    /** {@code rows} += a row per method, batch size and GEMM precision; 3× the forward FLOPs per image (forward and backward). */
    static void addRows(List<BenchRow> rows, CudaBackend gpu, String card, boolean quick, Consumer<String> progress) throws java.io.IOException {
        Adaptation.Options o = Adaptation.Options.defaults();
        ImageDataset train = FashionMnist.embedded().train();
        Measure measure = Measure.standard(quick);
        for (String method : new String[] {"lora", "full"})
            for (int batch : new int[] {64, 512}) {
                progress.accept("gpu: the main job's " + method + " step, batch " + batch);
                try (Arena arena = Arena.ofShared()) {
                    Tensor y = Tensor.zeros(arena, DType.I32, batch);
                    float[] pixels = new float[batch * train.pixelsPerImage()];
                    for (int i = 0; i < batch; i++) {
                        train.image(i, pixels, i * train.pixelsPerImage());
                        y.setInt(i, train.label(i));
                    }
                    Tensor x = Tensor.of(arena, pixels, batch, train.pixelsPerImage());
                    double cpuMs;
                    try (Workspace workspace = new Workspace()) {
                        cpuMs = measure.medianMs(step(CpuBackend.get(), model(arena, o, method), o, arena, workspace, x, y));
                    }
                    double flops = 3 * InferSuite.vitFlops(Pretraining.VIT) * batch;
                    String what = method.equals("lora") ? String.format("main-job ViT b%d r%d", batch, o.lora().r()) : String.format("main-job ViT b%d", batch);
                    String peer = String.format("tune4j CPU backend (tape), same step, %d cores here (%.0f img/s)", CpuBackend.threads(), batch / (cpuMs / 1e3));
                    for (Cublas.Precision precision : Cublas.Precision.values())
                        for (boolean record : precision == Cublas.Precision.F32 ? new boolean[] {true, false} : new boolean[] {true}) {
                            gpu.setGemmPrecision(precision);
                            VisionTransformer vit = model(arena, o, method);
                            vit.moveTo(gpu.memory(), arena);
                            gpu.resetFallbacks();
                            double ms;
                            String how;
                            AdamW opt = AdamW.of(arena, vit.namedParameters(), 0.01f, o.loraPlusRatio());
                            try (TrainingSteps steps = new TrainingSteps(gpu, vit, opt, new Trainer.Options(1, batch, o.seed(), 0f, 1.0), train.pixelsPerImage(), record)) {
                                ms = GpuSuite.gpuMs(gpu, quick ? 5 : 50, () -> steps.train(x, y, batch, 1e-3f)); // Trainer.fit's step on a GPU
                                how = steps.how();
                            }
                            String fellBack = GpuSuite.fallbackNote(gpu);
                            rows.add(BenchRow.of("gpu", "vit_" + method + "_step" + (record ? "" : "_no_graph"),
                                    String.format("%s (%.0f img/s, %s%s)", what, batch / (ms / 1e3), how, fellBack),
                                    precision.name().toLowerCase(java.util.Locale.ROOT), 0, "cuda " + card, ms, flops, "GFLOP/s", peer, cpuMs, 0));
                        }
                    gpu.setGemmPrecision(Cublas.Precision.F32);
                }
            }
    }

    /** One training step of {@code vit} on {@code backend}: the tape on {@code workspace}, clipping at 1, AdamW (the demo's settings). */
    private static Runnable step(Backend backend, VisionTransformer vit, Adaptation.Options o, Arena arena, Workspace workspace, Tensor x, Tensor y) {
        AdamW opt = AdamW.of(arena, vit.namedParameters(), 0.01f, o.loraPlusRatio());
        return () -> {
            try (Tape t = new Tape(backend, true, true, workspace)) {
                Var loss = t.crossEntropy(vit.logits(t, x, false), y, 0f);
                t.backward(loss);
            }
            GradClip.clipGlobalNorm(backend, opt.parameters().values(), 1.0);
            opt.step(backend, 1e-3f);
        };
    }

    /** The shipped ViT with the demo's adapters (lora), or every weight trainable (full). */
    private static VisionTransformer model(Arena arena, Adaptation.Options o, String method) throws java.io.IOException {
        VisionTransformer vit = ModelFile.load(arena, null);
        if (method.equals("lora")) Lora.inject(vit, arena, o.lora(), new SplittableRandom(o.seed()));
        return vit;
    }
}
