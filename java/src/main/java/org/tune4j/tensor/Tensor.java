package org.tune4j.tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Objects;

/**
 * An n-dimensional array in off-heap memory, row-major: the host's, or a device's ({@link #memory}).
 *
 * <p>Rows of the last two dimensions are {@code ld} ("leading dimension") elements apart, which may be
 * more than the number of columns: {@link #view} cuts a 2-D block out of a larger matrix without
 * copying, and the kernels take it as is. Tensors of rank other than 2 are contiguous. The memory
 * belongs to the {@link Arena} it was allocated in; once that arena is closed, any use of the tensor
 * throws {@link IllegalStateException}. Only a host tensor's elements can be read or written from Java
 * ({@link #getFloat} ...); a device tensor's are moved with {@link #copyFrom}, and refuse the rest with an
 * {@link IllegalStateException} naming where they live.
 */
public final class Tensor {
    private final MemorySegment segment;
    private final DType dtype;
    private final long[] shape;
    private final long ld;
    private final long numel;
    private final Memory memory;

    /** numel: the shape's element count, as the factory checked it (kept: element reads check against it). */
    private Tensor(Memory memory, MemorySegment segment, DType dtype, long[] shape, long ld, long numel) {
        this.memory = memory;
        this.segment = segment;
        this.dtype = dtype;
        this.shape = shape;
        this.ld = ld;
        this.numel = numel;
    }

    /** A new zero-filled tensor in {@code arena}. */
    public static Tensor zeros(Arena arena, DType dtype, long... shape) {
        Objects.requireNonNull(arena, "arena");
        Objects.requireNonNull(dtype, "dtype");
        Objects.requireNonNull(shape, "shape");
        long n = checkedCount(shape);
        MemorySegment seg = HostMemory.allocate(arena, dtype.bytes(Math.max(1, n)));
        return new Tensor(Memory.HOST, seg, dtype, shape.clone(), shape.length == 0 ? 1 : Math.max(1, shape[shape.length - 1]), n);
    }

    /** A new F32 tensor holding {@code values} (row-major) in {@code arena}. */
    public static Tensor of(Arena arena, float[] values, long... shape) {
        Objects.requireNonNull(values, "values");
        Tensor t = zeros(arena, DType.F32, shape);
        if (values.length != t.numel()) {
            throw new IllegalArgumentException("values: " + values.length + " floats for shape " + Arrays.toString(shape));
        }
        MemorySegment.copy(values, 0, t.segment, ValueLayout.JAVA_FLOAT, 0, values.length);
        return t;
    }

    /**
     * A 2-D F32 or I32 tensor over existing memory: element (i, j) at index {@code i*ld + j}.
     *
     * @throws IllegalArgumentException if the segment is too small for the shape, or ld &lt; cols
     */
    public static Tensor wrap(MemorySegment segment, DType dtype, long rows, long cols, long ld) {
        Objects.requireNonNull(segment, "segment");
        Objects.requireNonNull(dtype, "dtype");
        long[] shape = {rows, cols};
        long n = checkedCount(shape);
        if (ld < Math.max(1, cols)) throw new IllegalArgumentException("ld " + ld + " is less than cols " + cols);
        long need = dtype.bytes(span(rows, cols, ld));
        if (segment.byteSize() < need) {
            throw new IllegalArgumentException("segment of " + segment.byteSize() + " bytes is too small for a "
                    + rows + "x" + cols + " " + dtype + " matrix with ld " + ld + " (needs " + need + ")");
        }
        return new Tensor(Memory.HOST, segment, dtype, shape, ld, n);
    }

    /** A 1-D or n-D contiguous tensor over existing memory. */
    public static Tensor wrap(MemorySegment segment, DType dtype, long... shape) {
        if (shape.length == 2) return wrap(segment, dtype, shape[0], shape[1], Math.max(1, shape[1]));
        Objects.requireNonNull(segment, "segment");
        Objects.requireNonNull(dtype, "dtype");
        Objects.requireNonNull(shape, "shape");
        long n = checkedCount(shape), need = dtype.bytes(n);
        if (segment.byteSize() < need) {
            throw new IllegalArgumentException("segment of " + segment.byteSize() + " bytes is too small for shape "
                    + Arrays.toString(shape) + " of " + dtype + " (needs " + need + ")");
        }
        return new Tensor(Memory.HOST, segment, dtype, shape.clone(), shape.length == 0 ? 1 : Math.max(1, shape[shape.length - 1]), n);
    }

    /**
     * A contiguous tensor over memory of {@code memory}'s kind ({@code segment} spans its bytes; for a device,
     * an address range the host must not dereference). Memory implementations make their tensors with it.
     */
    public static Tensor wrap(Memory memory, MemorySegment segment, DType dtype, long... shape) {
        Objects.requireNonNull(memory, "memory");
        Tensor t = wrap(segment, dtype, shape);
        return memory.isHost() ? t : new Tensor(memory, segment, dtype, t.shape, t.ld, t.numel);
    }

    /** This tensor's memory seen with another shape of as many elements (contiguous only), sharing it. */
    public Tensor reshape(long... newShape) {
        if (!isContiguous()) throw new IllegalArgumentException("reshape of a strided view " + this);
        if (checkedCount(newShape) != numel()) throw new IllegalArgumentException("cannot view " + this + " as " + Arrays.toString(newShape));
        return wrap(memory, segment, dtype, newShape);
    }

    /** The {@code rows x cols} block of this matrix starting at (row0, col0), sharing its memory. */
    public Tensor view(long row0, long col0, long rows, long cols) {
        requireRank(2);
        if (row0 < 0 || col0 < 0 || rows < 0 || cols < 0 || row0 + rows > shape[0] || col0 + cols > shape[1]) {
            throw new IllegalArgumentException("view [" + row0 + "+" + rows + ", " + col0 + "+" + cols
                    + ") is outside the " + shape[0] + "x" + shape[1] + " matrix");
        }
        long length = dtype.bytes(span(rows, cols, ld));
        // an empty block may start at the end of the matrix, past its last byte: it spans nothing
        long offset = length == 0 ? 0 : dtype.bytes(row0 * ld + col0); // inside the checked span: no overflow
        return new Tensor(memory, segment.asSlice(offset, length), dtype, new long[] {rows, cols}, ld, rows * cols); // within this matrix: no overflow
    }

    /** Elements spanned by a rows x cols matrix with leading dimension ld. */
    private static long span(long rows, long cols, long ld) {
        if (rows == 0 || cols == 0) return 0;
        try {
            return Math.addExact(Math.multiplyExact(rows - 1, ld), cols);
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException("a " + rows + "x" + cols + " matrix with ld " + ld + " spans more than 2^63 elements");
        }
    }

    /** The number of elements of {@code shape}, refused when a dimension is negative or the product overflows. */
    private static long checkedCount(long[] shape) {
        long n = 1;
        for (long d : shape) {
            if (d < 0) throw new IllegalArgumentException("negative dimension in shape " + Arrays.toString(shape));
            try {
                n = Math.multiplyExact(n, d);
            } catch (ArithmeticException e) {
                throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " has more than 2^63 elements");
            }
        }
        return n;
    }

    private void requireRank(int rank) {
        if (shape.length != rank) {
            throw new IllegalArgumentException("expected a rank-" + rank + " tensor, got shape " + Arrays.toString(shape));
        }
    }

    /** Where the memory lives: {@link Memory#HOST}, or a device's. */
    public Memory memory() {
        return memory;
    }

    /** Whether Java may read and write the elements (host memory). */
    public boolean isHost() {
        return memory.isHost();
    }

    private void requireHost() {
        if (!memory.isHost()) {
            throw new IllegalStateException("this " + this + " lives in " + memory.name() + " memory; copy it to the host (copyFrom) to read or write its elements");
        }
    }

    public DType dtype() {
        return dtype;
    }

    public int rank() {
        return shape.length;
    }

    public long[] shape() {
        return shape.clone();
    }

    public long dim(int i) {
        return shape[i];
    }

    public long numel() {
        return numel;
    }

    /** Rows of a matrix (rank 2) or 1 for a vector. */
    public long rows() {
        return shape.length == 2 ? shape[0] : 1;
    }

    /** Columns of a matrix, or the length of a vector. */
    public long cols() {
        return shape.length == 0 ? 1 : shape[shape.length - 1];
    }

    /** Elements between the starts of two consecutive rows. */
    public long ld() {
        return ld;
    }

    /** True when rows are packed back to back (ld == cols). */
    public boolean isContiguous() {
        return shape.length != 2 || ld == shape[1] || shape[0] <= 1;
    }

    /** The host memory, starting at element 0, to read and write from Java; a device tensor refuses (see {@link #pointer}). */
    public MemorySegment segment() {
        requireHost();
        return segment;
    }

    /**
     * The memory as an argument for native code (a kernel, a copy), host or device, starting at element 0. A device
     * tensor's is an address range the host must never dereference: only the device's own code takes it.
     */
    public MemorySegment pointer() {
        return segment;
    }

    /** Whether the memory may not be written (a read-only mapping or segment); kernels refuse such a tensor as an output. */
    public boolean isReadOnly() {
        return segment.isReadOnly();
    }

    /** Whether the arena that owns the memory is still open. */
    public boolean isAlive() {
        return segment.scope().isAlive();
    }

    private long index(long i, long j) {
        requireHost();
        requireRank(2);
        Objects.checkIndex(i, shape[0]);
        Objects.checkIndex(j, shape[1]);
        return i * ld + j;
    }

    private long index(long i) {
        requireHost();
        Objects.checkIndex(i, numel());
        if (shape.length == 2) return (i / shape[1]) * ld + i % shape[1];
        return i;
    }

    public float getFloat(long i, long j) {
        return segment.getAtIndex(ValueLayout.JAVA_FLOAT, index(i, j));
    }

    public void setFloat(long i, long j, float v) {
        segment.setAtIndex(ValueLayout.JAVA_FLOAT, index(i, j), v);
    }

    /** Element i in row-major order. */
    public float getFloat(long i) {
        return segment.getAtIndex(ValueLayout.JAVA_FLOAT, index(i));
    }

    public void setFloat(long i, float v) {
        segment.setAtIndex(ValueLayout.JAVA_FLOAT, index(i), v);
    }

    public int getInt(long i) {
        return segment.getAtIndex(ValueLayout.JAVA_INT, index(i));
    }

    public void setInt(long i, int v) {
        segment.setAtIndex(ValueLayout.JAVA_INT, index(i), v);
    }

    public byte getByte(long i) {
        return segment.get(ValueLayout.JAVA_BYTE, index(i));
    }

    public void setByte(long i, byte v) {
        segment.set(ValueLayout.JAVA_BYTE, index(i), v);
    }

    /** The elements in row-major order, as a new array. */
    public float[] toFloatArray() {
        if (dtype != DType.F32) throw new IllegalArgumentException("toFloatArray on a " + dtype + " tensor");
        if (!isHost()) {
            try (Arena arena = Arena.ofConfined()) {
                return copy(arena, Memory.HOST).toFloatArray();
            }
        }
        long n = numel();
        if (n > Integer.MAX_VALUE - 8) throw new IllegalArgumentException("tensor too large for a Java array: " + n);
        float[] out = new float[(int) n];
        if (n == 0) return out; // a view with no columns spans no bytes, though its rows have offsets
        if (isContiguous()) {
            MemorySegment.copy(segment, ValueLayout.JAVA_FLOAT, 0, out, 0, out.length);
        } else {
            int cols = (int) shape[1];
            for (int i = 0; i < shape[0]; i++) {
                MemorySegment.copy(segment, ValueLayout.JAVA_FLOAT, i * ld * 4, out, i * cols, cols);
            }
        }
        return out;
    }

    /** Mᵀ of this F32 matrix [rows, cols], a contiguous [cols, rows] copy in {@code arena}. */
    public Tensor transposed(Arena arena) {
        if (rank() != 2 || dtype != DType.F32) throw new IllegalArgumentException("transposed: " + this + " is not an F32 matrix");
        Tensor t = zeros(arena, DType.F32, dim(1), dim(0));
        for (long i = 0; i < dim(0); i++)
            for (long j = 0; j < dim(1); j++) t.setFloat(j, i, getFloat(i, j));
        return t;
    }

    /** A new F32 matrix [rows.length, rows[0].length] holding {@code rows} in {@code arena}; every row of one length. */
    public static Tensor ofRows(Arena arena, float[][] rows) {
        if (rows.length == 0) throw new IllegalArgumentException("ofRows: no rows");
        int cols = rows[0].length;
        float[] flat = new float[Math.multiplyExact(rows.length, cols)];
        for (int i = 0; i < rows.length; i++) {
            if (rows[i].length != cols) throw new IllegalArgumentException("ofRows: row " + i + " has " + rows[i].length + " values, row 0 " + cols);
            System.arraycopy(rows[i], 0, flat, i * cols, cols);
        }
        return of(arena, flat, rows.length, cols);
    }

    /** A contiguous copy of this tensor in {@code arena}, in the same memory. */
    public Tensor copy(Arena arena) {
        return copy(arena, memory);
    }

    /** A contiguous copy of this tensor in {@code arena}, in {@code where} (to or from a device). */
    public Tensor copy(Arena arena, Memory where) {
        Tensor c = where.empty(arena, dtype, shape); // written in full below
        c.copyFrom(this);
        return c;
    }

    /**
     * A copy in {@code arena}, in {@code where}, with this tensor's row stride: a view's copy is the same view of a
     * zeroed buffer as wide as its rows (so checks that refuse a view see one); any other tensor's is {@link #copy}.
     */
    public Tensor copyKeepingStride(Arena arena, Memory where) {
        if (isContiguous() || rank() != 2) return copy(arena, where);
        Tensor view = where.zeros(arena, dtype, shape[0], ld).view(0, 0, shape[0], shape[1]);
        view.copyFrom(this);
        return view;
    }

    /**
     * Copies {@code other}'s elements (same shape and dtype) into this tensor, from any memory into any memory
     * (the device's copy runs when either side is not the host).
     */
    public void copyFrom(Tensor other) {
        if (!Arrays.equals(shape, other.shape) || dtype != other.dtype) {
            throw new IllegalArgumentException("copyFrom: " + other + " into " + this);
        }
        if (numel() == 0) return;
        if (!memory.isHost() || !other.memory.isHost()) {
            (memory.isHost() ? other.memory : memory).copy(other, this);
            return;
        }
        if (isContiguous() && other.isContiguous()) { // one block (a contiguous view of rows too)
            MemorySegment.copy(other.segment, 0, segment, 0, dtype.bytes(numel()));
            return;
        }
        for (long i = 0; i < rows(); i++) {
            long bytes = cols() * dtype.byteSize();
            MemorySegment.copy(other.segment, i * other.ld * dtype.byteSize(), segment, i * ld * dtype.byteSize(), bytes);
        }
    }

    /** Sets every element to 0 (in whatever memory it lives). */
    public void zero() {
        memory.zero(this);
    }

    /** Host memory set to zero, rows of a view only. */
    void fillZero() {
        requireHost();
        if (numel() == 0) return;
        if (isContiguous()) {
            segment.asSlice(0, dtype.bytes(numel())).fill((byte) 0);
        } else {
            for (long i = 0; i < rows(); i++) segment.asSlice(dtype.bytes(i * ld), dtype.bytes(cols())).fill((byte) 0);
        }
    }

    @Override
    public String toString() {
        return "Tensor" + Arrays.toString(shape) + " " + dtype + (isContiguous() ? "" : " ld=" + ld) + (memory.isHost() ? "" : " on " + memory.name());
    }
}
