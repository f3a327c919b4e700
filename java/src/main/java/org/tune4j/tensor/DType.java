package org.tune4j.tensor;

import java.lang.foreign.ValueLayout;

/** Element types a {@link Tensor} can hold. */
public enum DType {
    F32(ValueLayout.JAVA_FLOAT),
    I32(ValueLayout.JAVA_INT),
    I8(ValueLayout.JAVA_BYTE);

    private final ValueLayout layout;

    DType(ValueLayout layout) {
        this.layout = layout;
    }

    /** Bytes per element. */
    public long byteSize() {
        return layout.byteSize();
    }

    public ValueLayout layout() {
        return layout;
    }
}
