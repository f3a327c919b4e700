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
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;
import org.tune4j.train.VitStep;

/**
 * The main job's training steps (the shipped ViT; LoRA with the demo's adapters and LoRA+, and full
 * fine-tuning; clipping and AdamW) on the GPU ({@link VitStep#onGpu}; at batch 64 in f32 also without
 * its CUDA graph) beside the same step on the CPU
 * backend of the same machine (the tape, all cores), at the demo's batch of 64 and at 512. The issue's
 * figure compares the LoRA step with the 2-core development machine's CPU step (BENCHMARKS.md);
 * compare.py prints both.
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
                    VisionTransformer cpuVit = model(arena, o, method);
                    AdamW opt = AdamW.of(arena, cpuVit.namedParameters(), 0.01f, o.loraPlusRatio());
                    double cpuMs = measure.medianMs(() -> {
                        try (Tape t = new Tape(CpuBackend.get(), true)) {
                            Var loss = t.crossEntropy(cpuVit.logits(t, x, false), y, 0f);
                            t.backward(loss);
                        }
                        GradClip.clipGlobalNorm(CpuBackend.get(), opt.parameters().values(), 1.0);
                        opt.step(CpuBackend.get(), 1e-3f);
                    });
                    double flops = 3 * InferSuite.vitFlops(cpuVit.config()) * batch;
                    String what = method.equals("lora") ? String.format("main-job ViT b%d r%d", batch, o.lora().r()) : String.format("main-job ViT b%d", batch);
                    String peer = String.format("tune4j CPU backend (tape), same step, %d cores here (%.0f img/s)", CpuBackend.threads(), batch / (cpuMs / 1e3));
                    for (Cublas.Precision precision : Cublas.Precision.values())
                        for (boolean graphs : precision == Cublas.Precision.F32 && batch == 64 ? new boolean[] {true, false} : new boolean[] {true}) {
                            // the step as it runs (its gradients replayed as a CUDA graph), and at batch 64 in f32 also with every op queued one by one
                            try (VitStep<?> step = VitStep.onGpu(gpu, model(arena, o, method), batch, VitStep.Training.adaptation(o.loraPlusRatio(), 1f), precision,
                                    graphs)) {
                                double ms = GpuSuite.gpuMs(gpu, quick ? 5 : 50, () -> step.step(x, y, 1e-3f));
                                rows.add(BenchRow.of("gpu", "vit_" + method + "_step" + (graphs ? "" : "_no_graph"),
                                        String.format("%s (%.0f img/s)", what, batch / (ms / 1e3)), precision.name().toLowerCase(java.util.Locale.ROOT), 0,
                                        "cuda " + card, ms, flops, "GFLOP/s", peer, cpuMs, 0));
                            }
                        }
                }
            }
    }

    /** The shipped ViT with the demo's adapters (lora), or every weight trainable (full). */
    private static VisionTransformer model(Arena arena, Adaptation.Options o, String method) throws java.io.IOException {
        VisionTransformer vit = ModelFile.load(arena, null);
        if (method.equals("lora")) Lora.inject(vit, arena, o.lora(), new SplittableRandom(o.seed()));
        return vit;
    }
}
