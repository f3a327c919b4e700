package org.tune4j.backend.cuda;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import org.tune4j.tensor.DType;

/**
 * A tensor in GPU memory: an address from a {@link DeviceAllocator}, a dtype (F32, I32, I8, or BF16
 * stored as 16-bit values) and a shape. Row-major and contiguous. Closing it gives the memory back to
 * the allocator's cache.
 */
public final class DeviceTensor implements AutoCloseable {
    /** Element types on the device: the host's, plus bf16 (2 bytes). */
    public enum Type {
        F32(4), I32(4), I8(1), BF16(2);

        final int bytes;

        Type(int bytes) {
            this.bytes = bytes;
        }

        static Type of(DType t) {
            return switch (t) {
                case F32 -> F32;
                case I32 -> I32;
                case I8 -> I8;
                case BF16 -> BF16;
            };
        }
    }

    private final DeviceAllocator allocator;
    private final Type type;
    private final long[] shape;
    private final long bytes;
    private long address;

    DeviceTensor(DeviceAllocator allocator, Type type, long[] shape, long address, long bytes) {
        this.allocator = allocator;
        this.type = type;
        this.shape = shape.clone();
        this.address = address;
        this.bytes = bytes;
    }

    public Type type() {
        return type;
    }

    public long[] shape() {
        return shape.clone();
    }

    public long dim(int i) {
        return shape[i];
    }

    public int rank() {
        return shape.length;
    }

    public long numel() {
        long n = 1;
        for (long d : shape) n *= d;
        return n;
    }

    /** The device address as a segment to pass to a kernel (not dereferenceable on the host). */
    public MemorySegment pointer() {
        if (address == 0) throw new IllegalStateException("this device tensor was closed");
        return MemorySegment.ofAddress(address);
    }

    long bytes() {
        return bytes;
    }

    /**
     * Wraps memory that someone else owns (a JCuda {@code CUdeviceptr}'s address, say) without a copy;
     * closing the result does not free it. The caller keeps it alive and sized for {@code shape}.
     */
    public static DeviceTensor wrap(long address, Type type, long... shape) {
        if (address == 0) throw new IllegalArgumentException("address is null");
        long n = 1;
        for (long d : shape) {
            if (d < 0) throw new IllegalArgumentException("negative dimension in " + Arrays.toString(shape));
            n = Math.multiplyExact(n, d);
        }
        return new DeviceTensor(null, type, shape, address, n * type.bytes);
    }

    /** Rows [from, from + count) of a matrix, as a tensor over the same memory (not owning it: closing it frees nothing). */
    public DeviceTensor rows(long from, long count) {
        if (rank() != 2 || from < 0 || count < 0 || from + count > shape[0]) {
            throw new IllegalArgumentException("rows [" + from + ", " + (from + count) + ") of " + this);
        }
        return new DeviceTensor(null, type, new long[] {count, shape[1]}, address() + from * shape[1] * type.bytes, count * shape[1] * type.bytes);
    }

    /** The same memory seen with another shape of as many elements (not owning it: closing it frees nothing). */
    public DeviceTensor reshape(long... newShape) {
        long n = 1;
        for (long d : newShape) {
            if (d < 0) throw new IllegalArgumentException("negative dimension in " + Arrays.toString(newShape));
            n = Math.multiplyExact(n, d);
        }
        if (n != numel()) throw new IllegalArgumentException("cannot view " + this + " as " + Arrays.toString(newShape));
        return new DeviceTensor(null, type, newShape, address(), bytes);
    }

    /** The raw device address (for interop, e.g. a JCuda pointer made from it). */
    public long address() {
        pointer();
        return address;
    }

    @Override
    public void close() {
        if (address != 0 && allocator != null) allocator.release(address, bytes);
        address = 0;
    }

    @Override
    public String toString() {
        return "DeviceTensor[" + type + " " + Arrays.toString(shape) + "]";
    }
}
