package org.tune4j.backend.cuda;

import static org.tune4j.backend.cuda.CudaBackend.check;

import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import org.tune4j.backend.CsrWeights;
import org.tune4j.bindings.tune4j_cuda_h;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * The CUDA kernels beyond {@code Backend}'s ops, over tensors in a {@link CudaBackend}'s memory, queued on its
 * stream: bf16 conversion (for bf16 GEMMs), the int8 GEMM's epilogue and CSR × dense; and the backend's int8 rows. Arguments are checked
 * before any launch, with messages naming the argument.
 */
public final class CudaKernels {
    private final CudaBackend gpu;

    public CudaKernels(CudaBackend gpu) {
        this.gpu = gpu;
    }

    /** q [m, k] I8, scales [m] = the rows of x [m, k] F32 quantized (scale max|x| / 127); false where the call does not fit the kernel. */
    static boolean quantizeRows(CudaBackend gpu, Tensor x, Tensor q, Tensor scales) {
        if (!int8Rows(gpu, x, q, scales)) return false;
        check(tune4j_cuda_h.t4j_cuda_quantize_rows(x.dim(0), x.dim(1), x.pointer(), q.pointer(), scales.pointer(), gpu.stream()), "quantize_rows");
        return true;
    }

    /** x [m, k] F32 = q [m, k] I8 · scales [m] by row; false where the call does not fit the kernel. */
    static boolean dequantizeRows(CudaBackend gpu, Tensor q, Tensor scales, Tensor x) {
        if (!int8Rows(gpu, x, q, scales)) return false;
        check(tune4j_cuda_h.t4j_cuda_dequantize_rows(q.dim(0), q.dim(1), q.pointer(), scales.pointer(), x.pointer(), gpu.stream()), "dequantize_rows");
        return true;
    }

    /** x [m, k] F32, q the same shape I8, scales [m] F32, all contiguous in gpu's memory: the int8 rows kernels' layout. */
    private static boolean int8Rows(CudaBackend gpu, Tensor x, Tensor q, Tensor scales) {
        return gpu.here(x, q, scales) && x.rank() == 2 && x.dtype() == DType.F32 && q.dtype() == DType.I8 && java.util.Arrays.equals(q.shape(), x.shape())
                && scales.dtype() == DType.F32 && scales.numel() == x.dim(0);
    }

    /** y (BF16) = x (F32) rounded to nearest even, same number of elements, contiguous. */
    public void toBf16(Tensor x, Tensor y) {
        same("x", x, DType.F32, "y", y, DType.BF16);
        check(tune4j_cuda_h.t4j_cuda_f32_to_bf16(x.numel(), x.pointer(), y.pointer(), gpu.stream()), "f32_to_bf16");
    }

    /** y (F32) = x (BF16) widened, same number of elements, contiguous. */
    public void fromBf16(Tensor x, Tensor y) {
        same("x", x, DType.BF16, "y", y, DType.F32);
        check(tune4j_cuda_h.t4j_cuda_bf16_to_f32(x.numel(), x.pointer(), y.pointer(), gpu.stream()), "bf16_to_f32");
    }

    /** y [m, n] = acc (I32) · sx[row] · sw[col] + bias[col] (bias may be null): the epilogue of an int8 GEMM, acc = qx qwᵀ. */
    public void dequantizeGemm(Tensor acc, Tensor sx, Tensor sw, Tensor bias, Tensor y) {
        mine("acc", acc, DType.I32);
        if (acc.rank() != 2) throw new IllegalArgumentException("acc must be a matrix, is " + acc);
        long m = acc.dim(0), n = acc.dim(1);
        vector("sx", sx, m);
        vector("sw", sw, n);
        if (bias != null) vector("bias", bias, n);
        mine("y", y, DType.F32);
        if (y.numel() != m * n) throw new IllegalArgumentException("y must hold " + m * n + " values, is " + y);
        check(tune4j_cuda_h.t4j_cuda_dequantize_gemm(m, n, acc.pointer(), sx.pointer(), sw.pointer(), CudaBackend.p(bias), y.pointer(), gpu.stream()),
                "dequantize_gemm");
    }

    /** A CSR weight on the device (int64 row pointers as pairs of int32 words, int32 column indices, F32 values). */
    public record DeviceCsr(long rows, long cols, long nnz, Tensor rowPtr, Tensor colIdx, Tensor values) {}

    /** {@code w} copied to the device, in {@code arena}. */
    public DeviceCsr upload(CsrWeights w, Arena arena) {
        try (Arena staging = Arena.ofConfined()) {
            long nnz = w.nnz();
            Tensor rp = Tensor.zeros(staging, DType.I32, 2 * (w.rows() + 1));
            for (long j = 0; j <= w.rows(); j++) rp.segment().setAtIndex(ValueLayout.JAVA_LONG, j, w.rowStart(j));
            Tensor ci = Tensor.zeros(staging, DType.I32, Math.max(1, nnz)), v = Tensor.zeros(staging, DType.F32, Math.max(1, nnz));
            for (long e = 0; e < nnz; e++) {
                ci.setInt(e, (int) w.col(e));
                v.setFloat(e, w.values().getFloat(e));
            }
            return new DeviceCsr(w.rows(), w.cols(), nnz, rp.copy(arena, gpu.memory()), ci.copy(arena, gpu.memory()), v.copy(arena, gpu.memory()));
        }
    }

    /** c [n, m] = W b, W [n, k] sparse, b [k, m] dense, both F32 contiguous on the device. */
    public void csrSpmm(DeviceCsr w, Tensor b, Tensor c) {
        mine("b", b, DType.F32);
        mine("c", c, DType.F32);
        if (b.rank() != 2 || c.rank() != 2) throw new IllegalArgumentException("b and c must be matrices, are " + b + " and " + c);
        if (b.dim(0) != w.cols()) throw new IllegalArgumentException("b has " + b.dim(0) + " rows, W has " + w.cols() + " columns");
        if (c.dim(0) != w.rows() || c.dim(1) != b.dim(1)) throw new IllegalArgumentException("c must be [" + w.rows() + ", " + b.dim(1) + "], is " + c);
        if (b.dim(1) > 65535L * 128 || w.rows() > Integer.MAX_VALUE) throw new IllegalArgumentException("CSR x dense takes up to 2^31 rows and 8388480 columns, got " + c);
        check(tune4j_cuda_h.t4j_cuda_csr_spmm(w.rows(), w.cols(), b.dim(1), w.nnz(), w.rowPtr().pointer(), w.colIdx().pointer(), w.values().pointer(),
                b.pointer(), b.dim(1), c.pointer(), c.dim(1), gpu.stream()), "csr_spmm");
    }

    private void mine(String name, Tensor t, DType dtype) {
        if (t == null || t.dtype() != dtype) throw new IllegalArgumentException(name + " must be " + dtype + ", is " + t);
        if (t.memory() != gpu.memory()) throw new IllegalArgumentException(name + " must be in " + gpu.memory().name() + " memory, is " + t);
        if (!t.isContiguous()) throw new IllegalArgumentException(name + " must be contiguous, is " + t);
        if (!t.isAlive()) throw new IllegalArgumentException(name + ": its memory was freed (the arena is closed)");
    }

    private void same(String xn, Tensor x, DType xt, String yn, Tensor y, DType yt) {
        mine(xn, x, xt);
        mine(yn, y, yt);
        if (x.numel() != y.numel()) throw new IllegalArgumentException(xn + " " + x + " and " + yn + " " + y + " must hold as many values");
    }

    private void vector(String name, Tensor t, long n) {
        mine(name, t, DType.F32);
        if (t.numel() != n) throw new IllegalArgumentException(name + " must hold " + n + " values, is " + t);
    }
}
