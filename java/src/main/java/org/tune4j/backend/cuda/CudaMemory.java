package org.tune4j.backend.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import org.tune4j.bindings.tune4j_cuda_h;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Memory;
import org.tune4j.tensor.Tensor;

/**
 * A {@link CudaBackend}'s device memory as a {@link Memory}: tensors from its caching allocator whose
 * segments are device address ranges (never dereferenced on the host), given back to the cache when their
 * arena closes; copies to, from and within the device on the backend's stream. Strided views are copied
 * row by row (F32 views within the device in one kernel).
 */
final class CudaMemory implements Memory {
    private final CudaBackend gpu;
    private final String name;
    private final java.util.concurrent.atomic.LongAdder bytesIn = new java.util.concurrent.atomic.LongAdder(), bytesOut = new java.util.concurrent.atomic.LongAdder();

    CudaMemory(CudaBackend gpu, String name) {
        this.gpu = gpu;
        this.name = name;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public Tensor zeros(Arena arena, DType dtype, long... shape) {
        Tensor t = empty(arena, dtype, shape);
        zero(t);
        return t;
    }

    /** A tensor of unspecified values, freed (back to the allocator's cache) when {@code arena} closes. */
    @Override
    public Tensor empty(Arena arena, DType dtype, long... shape) {
        long n = 1;
        for (long d : shape) {
            if (d < 0) throw new IllegalArgumentException("shape has a negative dimension: " + java.util.Arrays.toString(shape));
            n = Math.multiplyExact(n, d);
        }
        long bytes = Math.max(1, dtype.bytes(n));
        DeviceAllocator allocator = gpu.allocator();
        long address = allocator.allocate(bytes);
        MemorySegment segment = MemorySegment.ofAddress(address).reinterpret(bytes, arena, s -> allocator.release(address, bytes));
        return Tensor.wrap(this, segment, dtype, shape);
    }

    @Override
    public void zero(Tensor t) {
        mine("t", t);
        if (t.isContiguous()) {
            CudaBackend.check(tune4j_cuda_h.t4j_cuda_memset_zero(t.pointer(), t.dtype().bytes(t.numel()), gpu.stream()), "cudaMemsetAsync");
        } else {
            for (long i = 0; i < t.rows(); i++) zero(t.view(i, 0, 1, t.cols()));
        }
    }

    @Override
    public void copy(Tensor src, Tensor dst) {
        if (!src.isAlive() || !dst.isAlive()) throw new IllegalArgumentException("copy: the memory of " + (src.isAlive() ? dst : src) + " was freed");
        if (dst.isReadOnly()) throw new IllegalArgumentException("copy into read-only memory " + dst);
        if (src.numel() == 0) return;
        boolean fromHost = src.isHost(), toHost = dst.isHost();
        for (Tensor t : new Tensor[] {src, dst}) {
            if (t.isHost() && !t.pointer().isNative()) throw new IllegalArgumentException(t + " is on the Java heap; a copy to or from the device needs native memory");
        }
        if (!fromHost) mine("src", src);
        if (!toHost) mine("dst", dst);
        if (src.isContiguous() && dst.isContiguous()) {
            if (fromHost) bytesIn.add(src.dtype().bytes(src.numel())); // counted here, where the bytes cross: a strided copy comes here row by row
            if (toHost) bytesOut.add(src.dtype().bytes(src.numel()));
            int kind = fromHost ? tune4j_cuda_h.T4J_CUDA_H2D : toHost ? tune4j_cuda_h.T4J_CUDA_D2H : tune4j_cuda_h.T4J_CUDA_D2D;
            CudaBackend.check(tune4j_cuda_h.t4j_cuda_memcpy(dst.pointer(), src.pointer(), src.dtype().bytes(src.numel()), kind, gpu.stream()), "cudaMemcpy");
        } else if (!fromHost && !toHost && src.dtype() == DType.F32) {
            CudaBackend.check(tune4j_cuda_h.t4j_cuda_copy_2d(src.rows(), src.cols(), src.pointer(), src.ld(), dst.pointer(), dst.ld(), gpu.stream()), "copy_2d");
        } else { // a strided view on either side: one row at a time (each row is contiguous)
            Tensor from = src.rank() == 2 ? src : src.reshape(dst.shape()), to = dst.rank() == 2 ? dst : dst.reshape(src.shape());
            for (long i = 0; i < from.rows(); i++) to.view(i, 0, 1, to.cols()).copyFrom(from.view(i, 0, 1, from.cols()));
        }
    }

    /** Bytes copied from the host into this memory, and from it to the host, since it was made: what a test asserts a loop does not move. */
    public long[] hostCopyBytes() {
        return new long[] {bytesIn.sum(), bytesOut.sum()};
    }

    private void mine(String name, Tensor t) {
        if (t.memory() != this) throw new IllegalArgumentException(name + " " + t + " is not in " + this.name + " memory");
        if (!t.isAlive()) throw new IllegalArgumentException(name + ": its memory was freed (the arena is closed)");
    }

    @Override
    public String toString() {
        return name;
    }
}
