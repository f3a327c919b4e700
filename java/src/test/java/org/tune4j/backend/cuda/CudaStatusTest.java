package org.tune4j.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** Without a GPU (or a driver, or the kernels library) CUDA says why, and opening it fails with that reason. */
class CudaStatusTest {
    @Test
    void probeNeverThrowsAndExplainsItself() {
        CudaStatus s = CudaStatus.probe();
        assertFalse(s.message().isBlank());
        if (s.available()) {
            assertTrue(s.devices() > 0 && !s.deviceName().isBlank() && s.computeCapability() >= 50, s.toString());
        } else {
            IllegalStateException e = assertThrows(IllegalStateException.class, CudaBackend::open);
            assertTrue(e.getMessage().startsWith("CUDA is not available: ") && e.getMessage().contains(s.message()), e.getMessage());
            assertTrue(s.message().contains("nvcc") || s.message().contains("driver") || s.message().contains("GPU"), s.message());
        }
    }

    /** A machine without the NVIDIA driver is told so, not that its driver is too old (what the runtime reports there). */
    @Test
    void noDriverAtAllIsSaidSo() {
        String runtime = "cudaErrorInsufficientDriver: CUDA driver version is insufficient for CUDA runtime version";
        assertEquals("no NVIDIA driver on this machine (libcuda.so.1 not found; the CUDA runtime says " + runtime + ")", CudaStatus.noDevices(runtime, false));
        assertEquals("no usable CUDA driver or GPU: " + runtime, CudaStatus.noDevices(runtime, true));
        CudaStatus here = CudaStatus.probe();
        if (!here.available() && org.tune4j.bindings.NativeAccess.openSystem(CudaStatus.DRIVER).isEmpty()) { // not the CUDA emulator, which runs without one
            assertTrue(here.message().contains("libcuda.so.1") || here.message().contains("nvcc"), "this machine has no driver: " + here.message());
        }
    }

    @Test
    void allocationSizesRoundAsTheCacheKeepsThem() {
        assertTrue(DeviceAllocator.rounded(1) == 512 && DeviceAllocator.rounded(513) == 1024 && DeviceAllocator.rounded(3L << 20) == 4L << 20);
    }
}
