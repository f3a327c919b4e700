package org.tune4j.backend.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.util.Optional;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;
import org.tune4j.bindings.NativeAccess;

/**
 * cuBLAS through FFM (ARCHITECTURE.md, "Bindings"), opened at run time by soname ({@code libcublas.so.13}, then
 * {@code .so.12}) so that one jar runs on CUDA 12 and 13. Row-major GEMMs on {@link Tensor}s in device memory, on
 * the backend's stream: f32 (pedantic or TF32 tensor cores), bf16 with f32 accumulation, and int8 x int8
 * → int32. cuBLAS is column-major: a row-major C = op(A) op(B) is computed as the column-major
 * Cᵀ = op(B)ᵀ op(A)ᵀ, the same buffers with the operands swapped.
 */
public final class Cublas implements AutoCloseable {
    /** How an F32 GEMM may compute. */
    public enum Precision {
        /** IEEE f32 products and sums. */
        F32,
        /** TF32 tensor cores (10-bit mantissa inputs), f32 accumulation. */
        TF32,
        /**
         * bf16 tensor cores on f32 tensors: cuBLAS rounds the inputs to bf16 (8-bit mantissa) and accumulates in f32
         * ({@code CUBLAS_COMPUTE_32F_FAST_16BF}); the tensors, the master weights and every other op stay f32, as under
         * PyTorch's bf16 autocast for matmuls.
         */
        BF16
    }

    // cublas_api.h / library_types.h values
    private static final int OP_N = 0, OP_T = 1;
    private static final int CUDA_R_32F = 0, CUDA_R_8I = 3, CUDA_R_32I = 10, CUDA_R_16BF = 14;
    private static final int COMPUTE_32F = 68, COMPUTE_32F_PEDANTIC = 69, COMPUTE_32F_FAST_16BF = 75, COMPUTE_32F_FAST_TF32 = 77, COMPUTE_32I = 72;
    private static final int GEMM_DEFAULT = -1;
    private static final long WORKSPACE_BYTES = 32L << 20;

    private final CudaBackend gpu;
    private final MemorySegment handle;
    private final MethodHandle gemmEx;
    private final MethodHandle destroy;
    private final MethodHandle statusString;
    private final Arena scalars; // the scalars and the workspace
    private final Tensor workspace; // in scalars' arena, given to cuBLAS so that it never allocates, which a CUDA graph's recording forbids
    private final MemorySegment one32f, zero32f, one32i, zero32i, alpha32f, beta32f;

    private Cublas(CudaBackend gpu, SymbolLookup lib, MemorySegment handle, Arena scalars, Tensor workspace) {
        this.gpu = gpu;
        this.handle = handle;
        this.scalars = scalars;
        this.workspace = workspace;
        gemmEx = NativeAccess.downcall(lib, "cublasGemmEx", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT,
                ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT), false);
        destroy = NativeAccess.downcall(lib, "cublasDestroy_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS), false);
        statusString = NativeAccess.exports(lib, "cublasGetStatusString")
                ? NativeAccess.downcall(lib, "cublasGetStatusString", FunctionDescriptor.of(ADDRESS, JAVA_INT), false) : null;
        one32f = scalars.allocateFrom(JAVA_FLOAT, 1f);
        zero32f = scalars.allocateFrom(JAVA_FLOAT, 0f);
        one32i = scalars.allocateFrom(JAVA_INT, 1);
        zero32i = scalars.allocateFrom(JAVA_INT, 0);
        alpha32f = scalars.allocate(JAVA_FLOAT);
        beta32f = scalars.allocate(JAVA_FLOAT);
    }

    /** cuBLAS on {@code gpu}'s stream; an {@link IllegalStateException} saying why when it cannot load or start. */
    public static Cublas open(CudaBackend gpu) {
        return open(gpu, gpu.stream());
    }

    /** cuBLAS on another stream of {@code gpu}'s device (a {@link CudaStream}'s, to overlap the backend's own). */
    public static Cublas open(CudaBackend gpu, MemorySegment stream) {
        Optional<SymbolLookup> lib = NativeAccess.openSystem("libcublas.so.13").or(() -> NativeAccess.openSystem("libcublas.so.12"));
        if (lib.isEmpty()) throw new IllegalStateException("cuBLAS not found: neither libcublas.so.13 nor libcublas.so.12 is on the library path");
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            MethodHandle create = NativeAccess.downcall(lib.get(), "cublasCreate_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS), false);
            MethodHandle setStream = NativeAccess.downcall(lib.get(), "cublasSetStream_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS), false);
            int rc = (int) create.invokeExact(out);
            if (rc != 0) throw new IllegalStateException("cublasCreate failed with status " + rc);
            MemorySegment h = out.get(ADDRESS, 0);
            rc = (int) setStream.invokeExact(h, stream);
            if (rc != 0) throw new IllegalStateException("cublasSetStream failed with status " + rc);
            MethodHandle setWorkspace = NativeAccess.downcall(lib.get(), "cublasSetWorkspace_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG), false);
            Arena owned = Arena.ofShared();
            Tensor workspace = gpu.memory().zeros(owned, DType.I8, WORKSPACE_BYTES);
            rc = (int) setWorkspace.invokeExact(h, workspace.pointer(), WORKSPACE_BYTES);
            if (rc != 0) {
                owned.close();
                throw new IllegalStateException("cublasSetWorkspace failed with status " + rc);
            }
            return new Cublas(gpu, lib.get(), h, owned, workspace);
        } catch (IllegalStateException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("cuBLAS could not start: " + t, t);
        }
    }

    /**
     * c [m, n] = alpha op(a) op(b) + beta c over {@link Tensor}s in CUDA memory, any leading dimensions (views of a
     * wider matrix): F32 a and b (IEEE f32, or TF32 or bf16 tensor cores with {@code precision}), or BF16 a and b with an F32 or BF16 c
     * (f32 accumulation). {@code Backend.gemm} on the GPU.
     */
    public void gemm(boolean transA, boolean transB, float alpha, Tensor a, Tensor b, float beta, Tensor c, Precision precision) {
        Shape s = shape(transA, transB, a, b, c);
        int inType, compute;
        if (a.dtype() == DType.F32 && b.dtype() == DType.F32) {
            inType = CUDA_R_32F;
            compute = switch (precision) {
                case F32 -> COMPUTE_32F_PEDANTIC;
                case TF32 -> COMPUTE_32F_FAST_TF32;
                case BF16 -> COMPUTE_32F_FAST_16BF;
            };
        } else if (a.dtype() == DType.BF16 && b.dtype() == DType.BF16) {
            inType = CUDA_R_16BF;
            compute = COMPUTE_32F;
        } else {
            throw new IllegalArgumentException("a and b must both be F32 or both BF16, are " + a + " and " + b);
        }
        boolean bf16Out = c.dtype() == DType.BF16 && inType == CUDA_R_16BF;
        if (c.dtype() != DType.F32 && !bf16Out) throw new IllegalArgumentException("c must be F32 (or BF16 when a and b are), is " + c);
        if (s.m == 0 || s.n == 0) return;
        alpha32f.set(JAVA_FLOAT, 0, alpha);
        beta32f.set(JAVA_FLOAT, 0, beta);
        call(s, transA, transB, alpha32f, a, inType, b, beta32f, c, bf16Out ? CUDA_R_16BF : CUDA_R_32F, compute);
    }

    /** c [m, n] (I32) = a [m, k] (I8) bᵀ, b [n, k] (I8): int8 products summed exactly in int32 (k a multiple of 4). */
    public void gemmInt8(Tensor a, Tensor b, Tensor c) {
        if (a.dtype() != DType.I8 || b.dtype() != DType.I8) throw new IllegalArgumentException("a and b must be I8, are " + a + " and " + b);
        if (c.dtype() != DType.I32) throw new IllegalArgumentException("c must be I32, is " + c);
        Shape s = shape(false, true, a, b, c);
        if (s.k % 4 != 0) throw new IllegalArgumentException("int8 GEMM needs k to be a multiple of 4, is " + s.k);
        call(s, false, true, one32i, a, CUDA_R_8I, b, zero32i, c, CUDA_R_32I, COMPUTE_32I);
    }

    private record Shape(int m, int n, int k) {}

    private static Shape shape(boolean transA, boolean transB, Tensor a, Tensor b, Tensor c) {
        for (Tensor t : new Tensor[] {a, b, c}) if (t == null || t.rank() != 2 || t.isHost()) throw new IllegalArgumentException("GEMM operands must be device matrices, got " + t);
        long m = transA ? a.dim(1) : a.dim(0), k = transA ? a.dim(0) : a.dim(1);
        long kb = transB ? b.dim(1) : b.dim(0), n = transB ? b.dim(0) : b.dim(1);
        if (k != kb) throw new IllegalArgumentException("inner dimensions differ: op(a) is " + m + "x" + k + ", op(b) is " + kb + "x" + n);
        if (c.dim(0) != m || c.dim(1) != n) throw new IllegalArgumentException("c must be [" + m + ", " + n + "], is " + c);
        for (long d : new long[] {m, n, k, a.ld(), b.ld(), c.ld()}) if (d > Integer.MAX_VALUE) throw new IllegalArgumentException("dimension " + d + " exceeds cuBLAS's int");
        return new Shape((int) m, (int) n, (int) k);
    }

    /** The row-major product as cuBLAS's column-major one: m and n swap, b goes first. */
    private void call(Shape s, boolean transA, boolean transB, MemorySegment alpha, Tensor a, int aType, Tensor b, MemorySegment beta, Tensor c, int cType,
            int compute) {
        int rc;
        try {
            rc = (int) gemmEx.invokeExact(handle, transB ? OP_T : OP_N, transA ? OP_T : OP_N, s.n, s.m, s.k, alpha, b.pointer(), aType, (int) b.ld(),
                    a.pointer(), aType, (int) a.ld(), beta, c.pointer(), cType, (int) c.ld(), compute, GEMM_DEFAULT);
        } catch (Throwable t) {
            throw new IllegalStateException("cublasGemmEx could not be called: " + t, t);
        }
        if (rc != 0) throw new IllegalStateException("cublasGemmEx failed: " + status(rc));
    }

    private String status(int rc) {
        if (statusString == null) return "status " + rc;
        try {
            MemorySegment s = (MemorySegment) statusString.invokeExact(rc);
            return s.reinterpret(256).getString(0) + " (" + rc + ")";
        } catch (Throwable t) {
            return "status " + rc;
        }
    }

    @Override
    public void close() {
        try {
            int rc = (int) destroy.invokeExact(handle);
            if (rc != 0) throw new IllegalStateException("cublasDestroy failed: " + status(rc));
        } catch (IllegalStateException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("cublasDestroy could not be called: " + t, t);
        } finally {
            scalars.close();
        }
    }

    /** The backend this runs on. */
    public CudaBackend backend() {
        return gpu;
    }
}
