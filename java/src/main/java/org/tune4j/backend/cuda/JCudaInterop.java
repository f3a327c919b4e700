package org.tune4j.backend.cuda;

import java.lang.foreign.MemorySegment;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUpointer_attribute;
import jcuda.driver.CUresult;
import jcuda.driver.JCudaDriver;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * Device memory shared with JCuda without a copy (JCuda is an optional dependency: this class needs
 * {@code org.jcuda:jcuda} on the class path, nothing else here does). tune4j's kernels run in the
 * device's primary context, as the CUDA runtime does, so JCuda code must allocate there too
 * ({@code cuDevicePrimaryCtxRetain} and {@code cuCtxSetCurrent}; memory of a context made with
 * {@code cuCtxCreate} is not reachable from it). JCuda's cuBLAS binding (12.6) does not load on CUDA
 * 13; its driver API, which this uses, does.
 */
public final class JCudaInterop {
    private JCudaInterop() {}

    /**
     * A tensor of {@code gpu}'s memory over the memory {@code pointer} points at, checked to lie inside one allocation
     * large enough for {@code shape}; it frees nothing (the JCuda side owns the memory and keeps it alive while the
     * tensor is used).
     */
    public static Tensor wrap(CudaBackend gpu, CUdeviceptr pointer, DType type, long... shape) {
        if (pointer == null) throw new IllegalArgumentException("pointer is null");
        long[] address = new long[1];
        check(JCudaDriver.cuPointerGetAttribute(Pointer.to(address), CUpointer_attribute.CU_POINTER_ATTRIBUTE_DEVICE_POINTER, pointer),
                "cuPointerGetAttribute(DEVICE_POINTER)");
        CUdeviceptr base = new CUdeviceptr();
        long[] size = new long[1];
        check(JCudaDriver.cuMemGetAddressRange(base, size, pointer), "cuMemGetAddressRange");
        long[] baseAddress = new long[1];
        check(JCudaDriver.cuPointerGetAttribute(Pointer.to(baseAddress), CUpointer_attribute.CU_POINTER_ATTRIBUTE_DEVICE_POINTER, base),
                "cuPointerGetAttribute(DEVICE_POINTER) of the allocation");
        long n = 1;
        for (long d : shape) {
            if (d < 0) throw new IllegalArgumentException("negative dimension in " + java.util.Arrays.toString(shape));
            n = Math.multiplyExact(n, d);
        }
        long bytes = type.bytes(n), available = baseAddress[0] + size[0] - address[0];
        if (bytes > available) {
            throw new IllegalArgumentException(type + " " + java.util.Arrays.toString(shape) + " needs " + bytes + " bytes; the allocation has "
                    + available + " from this pointer on");
        }
        return Tensor.wrap(gpu.memory(), MemorySegment.ofAddress(address[0]).reinterpret(Math.max(1, bytes)), type, shape);
    }

    /** A JCuda pointer to a device tensor's memory (no copy; valid while the tensor's arena is open). */
    public static CUdeviceptr pointer(Tensor tensor) {
        if (tensor.isHost()) throw new IllegalArgumentException(tensor + " is host memory, not a device's");
        if (!tensor.isAlive()) throw new IllegalArgumentException(tensor + ": its memory was freed (the arena is closed)");
        return new CUdeviceptr().withByteOffset(tensor.pointer().address());
    }

    private static void check(int rc, String what) {
        if (rc != CUresult.CUDA_SUCCESS) throw new IllegalArgumentException(what + " failed: " + CUresult.stringFor(rc));
    }
}
