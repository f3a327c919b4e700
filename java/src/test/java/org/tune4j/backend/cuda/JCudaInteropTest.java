package org.tune4j.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.lang.foreign.Arena;
import jcuda.Pointer;
import jcuda.Sizeof;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.JCudaDriver;
import org.junit.jupiter.api.Test;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/** Memory allocated through JCuda's driver API used by tune4j's kernels, and tune4j's memory read through JCuda, without copies (skips: {@link GpuTest}). */
class JCudaInteropTest extends GpuTest {
    @Test
    void jcudaMemoryAndTune4jTensorsAreTheSameMemory() {
        JCudaDriver.setExceptionsEnabled(true);
        JCudaDriver.cuInit(0);
        CUdevice device = new CUdevice();
        JCudaDriver.cuDeviceGet(device, 0);
        CUcontext primary = new CUcontext();
        JCudaDriver.cuDevicePrimaryCtxRetain(primary, device);
        JCudaDriver.cuCtxSetCurrent(primary);
        int n = 1000;
        float[] values = new float[n];
        for (int i = 0; i < n; i++) values[i] = i * 0.5f - 7;
        CUdeviceptr owned = new CUdeviceptr();
        JCudaDriver.cuMemAlloc(owned, (long) n * Sizeof.FLOAT);
        try (Arena arena = Arena.ofConfined()) {
            JCudaDriver.cuMemcpyHtoD(owned, Pointer.to(values), (long) n * Sizeof.FLOAT);
            Tensor wrapped = JCudaInterop.wrap(gpu, owned, DType.F32, n);
            {
                Tensor twice = gpu.memory().zeros(arena, DType.F32, n);
                gpu.add(wrapped, wrapped, twice); // tune4j's kernel reads JCuda's memory
                Tensor back = Tensor.zeros(arena, DType.F32, n);
                back.copyFrom(twice);
                for (int i = 0; i < n; i++) assertEquals(2 * values[i], back.getFloat(i), 0f, "element " + i);
                float[] viaJcuda = new float[n];
                JCudaDriver.cuMemcpyDtoH(Pointer.to(viaJcuda), JCudaInterop.pointer(twice), (long) n * Sizeof.FLOAT); // JCuda reads tune4j's
                for (int i = 0; i < n; i++) assertEquals(2 * values[i], viaJcuda[i], 0f, "element " + i + " through JCuda");
            }
            Tensor tail = JCudaInterop.wrap(gpu, owned.withByteOffset(4L * (n - 10)), DType.F32, 10);
            float[] last = new float[10];
            JCudaDriver.cuMemcpyDtoH(Pointer.to(last), JCudaInterop.pointer(tail), 10L * Sizeof.FLOAT);
            float[] want = new float[10];
            System.arraycopy(values, n - 10, want, 0, 10);
            assertArrayEquals(want, last, 0f, "an offset pointer wraps at its offset");
            assertThrows(IllegalArgumentException.class, () -> JCudaInterop.wrap(gpu, owned, DType.F32, n + 1), "larger than the allocation");
        } finally {
            JCudaDriver.cuMemFree(owned);
            JCudaDriver.cuDevicePrimaryCtxRelease(device);
        }
    }
}
