package org.tune4j.cli;

import org.tune4j.backend.cuda.CudaStatus;
import picocli.CommandLine.Option;

/**
 * {@code --device cpu|cuda} on every command that computes (a picocli mixin). The commands run on the
 * CPU backend; {@code cuda} is refused with the reason: no GPU, driver or kernels library here, or, where
 * CUDA works, that the command's loop does not run on it yet (the kernels, cuBLAS and the LoRA layer are
 * in {@code org.tune4j.backend.cuda}; `tune4j bench gpu` uses them).
 */
final class DeviceOption {
    @Option(names = "--device", paramLabel = "cpu|cuda", description = "Where to compute (default: ${DEFAULT-VALUE}).", defaultValue = "cpu")
    String device;

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
