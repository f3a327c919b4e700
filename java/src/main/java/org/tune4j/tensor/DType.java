package org.tune4j.tensor;

import java.lang.foreign.ValueLayout;

/** Element types a {@link Tensor} can hold. */
public enum DType {
    F32(ValueLayout.JAVA_FLOAT),
    I32(ValueLayout.JAVA_INT),
    I8(ValueLayout.JAVA_BYTE),
    /** bfloat16: the top 16 bits of an F32, stored as 16-bit values (device mixed precision). */
    BF16(ValueLayout.JAVA_SHORT);

    private final ValueLayout layout;
    private final long byteSize; // kept: layout.byteSize() is an interface call with four receivers, once per tensor made

    DType(ValueLayout layout) {
        this.layout = layout;
        this.byteSize = layout.byteSize();
    }

    /** Bytes per element. */
    public long byteSize() {
        return byteSize;
    }

    /**
     * Bytes of {@code count} elements, computed exactly.
     *
     * @throws IllegalArgumentException when the count is negative or the size does not fit in a long
     */
    public long bytes(long count) {
        if (count < 0) throw new IllegalArgumentException("negative element count " + count);
        try {
            return Math.multiplyExact(count, byteSize());
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException(count + " " + this + " elements take more than 2^63 bytes");
        }
    }

    public ValueLayout layout() {
        return layout;
    }
}
