package org.tune4j.cli;

import org.tune4j.backend.cuda.Cublas;
import org.tune4j.backend.cuda.CudaBackend;
import org.tune4j.backend.cuda.CudaStatus;
import org.tune4j.nn.Classifier;
import org.tune4j.nn.VisionTransformer;
import org.tune4j.train.DeviceClassifier;
import picocli.CommandLine.Option;

/**
 * {@code --device cpu|cuda} on every command that computes (a picocli mixin). With {@code cuda}: pretrain
 * and the demo train on the GPU (the tape-free ViT step); eval, drift, gate and robust evaluate and attack
 * through the ViT's forward and input gradient on the GPU ({@link #model}). Where CUDA does not work the
 * reason is the one line.
 */
final class DeviceOption {
    @Option(names = "--device", paramLabel = "cpu|cuda", description = "Where to compute (default: ${DEFAULT-VALUE}).", defaultValue = "cpu")
    String device;

    /** True for {@code cuda} where CUDA works, false for {@code cpu}; an IllegalArgumentException saying why otherwise. */
    boolean cuda() {
        switch (device) {
            case "cpu" -> {
                return false;
            }
            case "cuda" -> {
                CudaStatus s = CudaStatus.probe();
                if (!s.available()) throw new IllegalArgumentException("--device cuda: CUDA is not available: " + s.message());
                return true;
            }
            default -> throw new IllegalArgumentException("--device must be cpu or cuda, not " + device);
        }
    }

    /** The ViT to evaluate and attack: itself on the CPU; with cuda, a copy of its weights on the GPU (f32 GEMMs). Close it after. */
    Model model(VisionTransformer vit) {
        if (!cuda()) return new Model(vit, null);
        CudaBackend gpu = CudaBackend.open();
        try {
            return new Model(DeviceClassifier.onGpu(gpu, vit, Cublas.Precision.F32), gpu);
        } catch (RuntimeException e) {
            gpu.close();
            throw e;
        }
    }

    /** A classifier where the command asked for it; {@code gpu} null on the CPU. */
    record Model(Classifier classifier, CudaBackend gpu) implements AutoCloseable {
        /** The GPU's name, null on the CPU. */
        String gpuName() {
            return gpu == null ? null : gpu.status().deviceName();
        }

        @Override
        public void close() {
            if (gpu == null) return;
            try {
                if (classifier instanceof DeviceClassifier d) d.close();
            } finally {
                gpu.close();
            }
        }
    }
}
