package org.tune4j.cli;

import org.tune4j.backend.cuda.CudaStatus;
import picocli.CommandLine.Option;

/**
 * {@code --device cpu|cuda} on every command that computes (a picocli mixin). The demo trains its LoRA run
 * on the GPU with {@code cuda} ({@link #loraOnGpu}); the other commands run on the CPU backend and refuse
 * {@code cuda} with the reason: no GPU, driver or kernels library here, or, where CUDA works, that the
 * command's loop does not run on it yet.
 */
final class DeviceOption {
    @Option(names = "--device", paramLabel = "cpu|cuda", description = "Where to compute (default: ${DEFAULT-VALUE}).", defaultValue = "cpu")
    String device;

    /**
     * For a command that can train LoRA on the GPU (the demo): true for {@code cuda} where CUDA works, false
     * for {@code cpu}; an IllegalArgumentException saying why for {@code cuda} where it does not.
     */
    boolean loraOnGpu() {
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

    /** Checks the choice before any work starts: an IllegalArgumentException (one line from the CLI) when it cannot be honoured. */
    void check() {
        switch (device) {
            case "cpu" -> {}
            case "cuda" -> {
                CudaStatus s = CudaStatus.probe();
                if (!s.available()) throw new IllegalArgumentException("--device cuda: CUDA is not available: " + s.message());
                throw new IllegalArgumentException("--device cuda: " + s.deviceName() + " is there, but this command runs on the CPU backend only so far "
                        + "(the CUDA kernels are used by `tune4j bench gpu`); use --device cpu");
            }
            default -> throw new IllegalArgumentException("--device must be cpu or cuda, not " + device);
        }
    }
}
