package org.tune4j.cli;

import java.lang.foreign.Arena;
import org.tune4j.backend.Backend;
import org.tune4j.backend.CpuBackend;
import org.tune4j.backend.cuda.CudaBackend;
import org.tune4j.backend.cuda.CudaStatus;
import org.tune4j.nn.Module;
import picocli.CommandLine.Option;

/**
 * {@code --device cpu|cuda} on every command that computes (a picocli mixin). With {@code cuda} the command's
 * models move into a {@link CudaBackend}'s memory ({@link Compute#place}) and every step of training,
 * evaluation and attack runs there through the same tape as on the CPU (ARCHITECTURE.md, "One engine").
 * Where CUDA does not work the reason is the one line.
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

    /** The backend the command computes on: the CPU's, or a GPU's. Close it after. */
    Compute open() {
        return cuda() ? new Compute(CudaBackend.open()) : new Compute(null);
    }

    /** Where a command computes; with a GPU, the device memory of the models placed there lives until {@link #close}. */
    static final class Compute implements AutoCloseable {
        private final CudaBackend gpu;
        private final Arena deviceMemory = Arena.ofShared();

        private Compute(CudaBackend gpu) {
            this.gpu = gpu;
        }

        Backend backend() {
            return gpu != null ? gpu : CpuBackend.get();
        }

        /** The GPU's name, null on the CPU. */
        String gpuName() {
            return gpu == null ? null : gpu.status().deviceName();
        }

        /** {@code model}, its parameters moved where the backend computes (nothing moves on the CPU). */
        <M extends Module> M place(M model) {
            if (gpu != null) model.moveTo(gpu.memory(), deviceMemory);
            return model;
        }

        /** The ops the GPU ran on the CPU for want of a kernel, for the command's last line ("" on the CPU or when none did). */
        String fallbacks() {
            return gpu == null || gpu.fallbacks().isEmpty() ? "" : "ran on the CPU for want of a CUDA kernel: " + gpu.fallbacks();
        }

        @Override
        public void close() {
            try {
                if (gpu != null) gpu.synchronize();
                deviceMemory.close();
            } finally {
                if (gpu != null) gpu.close();
            }
        }
    }
}
