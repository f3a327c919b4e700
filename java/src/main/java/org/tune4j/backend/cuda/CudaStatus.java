package org.tune4j.backend.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import org.tune4j.bindings.tune4j_cuda_h;

/**
 * Whether CUDA can run here, and if not, why, in words a user can act on: the kernels library missing
 * from the jar (built only where nvcc is), no driver, no device. Probing never throws.
 */
public record CudaStatus(boolean available, String message, int devices, String deviceName, int computeCapability, int driverVersion) {
    /** Probes the library, the driver and device 0. */
    public static CudaStatus probe() {
        int count;
        try {
            count = tune4j_cuda_h.t4j_cuda_device_count();
        } catch (UnsatisfiedLinkError | ExceptionInInitializerError | NoClassDefFoundError e) {
            String why = rootMessage(e);
            return new CudaStatus(false, org.tune4j.bindings.NativeLoader.inJar("libtune4j_cuda.so")
                    ? "the CUDA kernels (libtune4j_cuda.so) could not be loaded: " + why
                    : "the CUDA kernels (libtune4j_cuda.so) are not in this build: it is built only where nvcc is found (" + why + ")", 0, "", 0, 0);
        }
        if (count < 0) return new CudaStatus(false, noDevices(errorString(count), org.tune4j.bindings.NativeAccess.openSystem(DRIVER).isPresent()), 0, "", 0, 0);
        if (count == 0) return new CudaStatus(false, "no CUDA GPU found (the driver reports 0 devices)", 0, "", 0, 0);
        int driver = tune4j_cuda_h.t4j_cuda_driver_version();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment name = arena.allocate(256);
            int cc = tune4j_cuda_h.t4j_cuda_device_info(0, name, 256);
            if (cc < 0) return new CudaStatus(false, "cannot query CUDA device 0: " + errorString(cc), count, "", 0, driver);
            String n = name.getString(0);
            return new CudaStatus(true, String.format("%d GPU(s); device 0: %s, compute capability %d.%d, driver CUDA %d.%d", count, n, cc / 10,
                    cc % 10, driver / 1000, driver % 1000 / 10), count, n, cc, driver);
        }
    }

    /** The NVIDIA driver's library, which the CUDA runtime opens. */
    static final String DRIVER = "libcuda.so.1";

    /**
     * Why the runtime found no device: without the driver's library at all, the runtime reports
     * cudaErrorInsufficientDriver ("CUDA driver version is insufficient"), which on a machine with no NVIDIA driver
     * would send a user to update one they do not have.
     */
    static String noDevices(String cudaError, boolean driverPresent) {
        return driverPresent ? "no usable CUDA driver or GPU: " + cudaError
                : "no NVIDIA driver on this machine (" + DRIVER + " not found; the CUDA runtime says " + cudaError + ")";
    }

    /** The CUDA error's name and description. */
    static String errorString(int code) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(256);
            tune4j_cuda_h.t4j_cuda_error_string(code, out, 256);
            return out.getString(0);
        }
    }

    private static String rootMessage(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null) t = t.getCause();
        return t.getMessage() == null ? t.getClass().getSimpleName() : t.getMessage();
    }
}
