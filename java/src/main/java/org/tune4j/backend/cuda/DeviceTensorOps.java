package org.tune4j.backend.cuda;

import static org.tune4j.backend.cuda.CudaBackend.check;
import static org.tune4j.backend.cuda.CudaBackend.count;
import static org.tune4j.backend.cuda.CudaBackend.matrix;
import static org.tune4j.backend.cuda.CudaBackend.same;
import static org.tune4j.backend.cuda.CudaBackend.type;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.tune4j.backend.CsrWeights;
import org.tune4j.bindings.tune4j_cuda_h;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * The ops of {@link CudaBackend} over {@link DeviceTensor}s, from before the GPU was a {@code Backend}: what
 * the benchmarks of single kernels and the cuBLAS interop still call. Training and inference go through
 * {@link CudaBackend}'s {@code Backend} ops over {@link Tensor}s in CUDA memory (ARCHITECTURE.md, "One engine").
 */
abstract sealed class DeviceTensorOps extends HostFallbackBackend permits CudaBackend {
    DeviceTensorOps(HostFallback.Counts counts) {
        super(counts);
    }

    abstract MemorySegment streamHandle();

    public abstract DeviceAllocator allocator();


    // ---- memory ----


    public DeviceTensor empty(DeviceTensor.Type type, long... shape) {
        ensureOpen();
        long n = 1;
        for (long d : shape) {
            if (d < 0) throw new IllegalArgumentException("shape has a negative dimension: " + java.util.Arrays.toString(shape));
            n = Math.multiplyExact(n, d);
        }
        long bytes = Math.max(1, n * type.bytes);
        return new DeviceTensor(allocator(), type, shape, allocator().allocate(bytes), bytes);
    }

    public DeviceTensor zeros(DeviceTensor.Type type, long... shape) {
        DeviceTensor t = empty(type, shape);
        zero(t);
        return t;
    }

    /** t = 0, on the stream. */
    public void zero(DeviceTensor t) {
        check(tune4j_cuda_h.t4j_cuda_memset_zero(t.pointer(), t.bytes(), streamHandle()), "cudaMemsetAsync");
    }

    /** A device copy of a host tensor (contiguous). */
    public DeviceTensor upload(Tensor host) {
        if (host == null || !host.isContiguous()) throw new IllegalArgumentException("host must be a contiguous tensor, is " + host);
        if (!host.pointer().isNative()) throw new IllegalArgumentException("host is on the Java heap; a copy to the device needs native memory");
        DeviceTensor t = empty(DeviceTensor.Type.of(host.dtype()), host.shape());
        check(tune4j_cuda_h.t4j_cuda_memcpy(t.pointer(), host.pointer(), host.dtype().bytes(host.numel()), tune4j_cuda_h.T4J_CUDA_H2D, streamHandle()),
                "upload");
        return t;
    }

    /** Copies a host tensor (contiguous) into a device tensor of the same size and element size. */
    public void upload(Tensor host, DeviceTensor into) {
        if (host == null || !host.isContiguous()) throw new IllegalArgumentException("host must be a contiguous tensor, is " + host);
        long bytes = host.dtype().bytes(host.numel());
        if (bytes != into.numel() * into.type().bytes) throw new IllegalArgumentException("host " + host + " and device " + into + " differ in size");
        check(tune4j_cuda_h.t4j_cuda_memcpy(into.pointer(), host.pointer(), bytes, tune4j_cuda_h.T4J_CUDA_H2D, streamHandle()), "upload");
    }

    /** Copies a device tensor into a host tensor of the same size and element size; waits for the stream. */
    public void download(DeviceTensor device, Tensor host) {
        if (host == null || !host.isContiguous()) throw new IllegalArgumentException("host must be a contiguous tensor, is " + host);
        if (host.isReadOnly()) throw new IllegalArgumentException("host is read-only memory, and download writes it");
        if (!host.pointer().isNative()) throw new IllegalArgumentException("host is on the Java heap; a copy from the device needs native memory");
        long bytes = host.dtype().bytes(host.numel());
        if (bytes != device.numel() * device.type().bytes) {
            throw new IllegalArgumentException("host " + host + " and device " + device + " differ in size");
        }
        check(tune4j_cuda_h.t4j_cuda_memcpy(host.pointer(), device.pointer(), bytes, tune4j_cuda_h.T4J_CUDA_D2H, streamHandle()), "download");
    }

    /** dst = src, on the device (same size). */
    public void copy(DeviceTensor src, DeviceTensor dst) {
        if (src.numel() * src.type().bytes != dst.numel() * dst.type().bytes) throw new IllegalArgumentException("src " + src + " and dst " + dst + " differ in size");
        check(tune4j_cuda_h.t4j_cuda_memcpy(dst.pointer(), src.pointer(), src.numel() * src.type().bytes, tune4j_cuda_h.T4J_CUDA_D2D, streamHandle()), "copy");
    }


    private static MemorySegment ptr(DeviceTensor t) {
        return t == null ? MemorySegment.NULL : t.pointer();
    }

    private static void smoothing(float s) {
        if (!(s >= 0 && s < 1)) throw new IllegalArgumentException("label smoothing must be in [0, 1), is " + s);
    }

    // ---- elementwise ----

    /** y = a + b */
    public void add(DeviceTensor a, DeviceTensor b, DeviceTensor y) {
        same("a", a, "b", b);
        same("a", a, "y", y);
        check(tune4j_cuda_h.t4j_cuda_add(a.numel(), a.pointer(), b.pointer(), y.pointer(), streamHandle()), "add");
    }

    /** y += alpha x */
    public void axpy(float alpha, DeviceTensor x, DeviceTensor y) {
        same("x", x, "y", y);
        check(tune4j_cuda_h.t4j_cuda_axpy(x.numel(), alpha, x.pointer(), y.pointer(), streamHandle()), "axpy");
    }

    /** y = GELU(x), tanh form */
    public void geluForward(DeviceTensor x, DeviceTensor y) {
        same("x", x, "y", y);
        check(tune4j_cuda_h.t4j_cuda_gelu_forward(x.numel(), x.pointer(), y.pointer(), streamHandle()), "gelu_forward");
    }

    /** dx += GELU'(x) dy */
    public void geluBackward(DeviceTensor x, DeviceTensor dy, DeviceTensor dx) {
        same("x", x, "dy", dy);
        same("x", x, "dx", dx);
        check(tune4j_cuda_h.t4j_cuda_gelu_backward(x.numel(), x.pointer(), dy.pointer(), dx.pointer(), streamHandle()), "gelu_backward");
    }

    /** bf16 copy of an F32 tensor, and back */
    public void toBf16(DeviceTensor x, DeviceTensor y) {
        type("x", x, DeviceTensor.Type.F32);
        type("y", y, DeviceTensor.Type.BF16);
        count("y", y, x.numel());
        check(tune4j_cuda_h.t4j_cuda_f32_to_bf16(x.numel(), x.pointer(), y.pointer(), streamHandle()), "f32_to_bf16");
    }

    public void fromBf16(DeviceTensor x, DeviceTensor y) {
        type("x", x, DeviceTensor.Type.BF16);
        type("y", y, DeviceTensor.Type.F32);
        count("y", y, x.numel());
        check(tune4j_cuda_h.t4j_cuda_bf16_to_f32(x.numel(), x.pointer(), y.pointer(), streamHandle()), "bf16_to_f32");
    }

    /**
     * y[:, col0 : col0 + cols] = scale x for x [rows, cols] (F32) and y [rows, ≥ col0 + cols] (F32, or BF16
     * rounded to nearest even): a scaled or converted copy into a block of a wider matrix.
     */
    public void scaleInto(DeviceTensor x, float scale, DeviceTensor y, long col0) {
        matrix("x", x);
        matrix("y", y);
        type("x", x, DeviceTensor.Type.F32);
        if (y.type() != DeviceTensor.Type.F32 && y.type() != DeviceTensor.Type.BF16) throw new IllegalArgumentException("y must be F32 or BF16, is " + y);
        if (y.dim(0) != x.dim(0) || col0 < 0 || col0 + x.dim(1) > y.dim(1)) {
            throw new IllegalArgumentException("x " + x + " does not fit y " + y + " at column " + col0);
        }
        MemorySegment dst = MemorySegment.ofAddress(y.address() + col0 * y.type().bytes);
        check(tune4j_cuda_h.t4j_cuda_scale_into(x.dim(0), x.dim(1), x.pointer(), x.dim(1), scale, dst, y.dim(1), y.type() == DeviceTensor.Type.BF16 ? 1 : 0,
                streamHandle()), "scale_into");
    }

    /** out [1] = Σ x, on the device */
    public void sum(DeviceTensor x, DeviceTensor out) {
        type("x", x, DeviceTensor.Type.F32);
        count("out", out, 1);
        check(tune4j_cuda_h.t4j_cuda_sum(x.numel(), x.pointer(), out.pointer(), streamHandle()), "sum");
    }

    // ---- rows ----

    /** y [m, n] = softmax of each row of x */
    public void softmaxForward(DeviceTensor x, DeviceTensor y) {
        matrix("x", x);
        same("x", x, "y", y);
        check(tune4j_cuda_h.t4j_cuda_softmax_forward(x.dim(0), x.dim(1), x.pointer(), y.pointer(), streamHandle()), "softmax_forward");
    }

    /** LayerNorm of each row of x [m, n]; gamma, beta [n]; mean, rstd [m] saved */
    public void layerNormForward(DeviceTensor x, DeviceTensor gamma, DeviceTensor beta, float eps, DeviceTensor y, DeviceTensor mean, DeviceTensor rstd) {
        matrix("x", x);
        same("x", x, "y", y);
        count("gamma", gamma, x.dim(1));
        count("beta", beta, x.dim(1));
        count("mean", mean, x.dim(0));
        count("rstd", rstd, x.dim(0));
        check(tune4j_cuda_h.t4j_cuda_layernorm_forward(x.dim(0), x.dim(1), x.pointer(), gamma.pointer(), beta.pointer(), eps, y.pointer(),
                mean.pointer(), rstd.pointer(), streamHandle()), "layernorm_forward");
    }

    /** dx, dgamma, dbeta += the LayerNorm gradients (any of them null to skip) */
    public void layerNormBackward(DeviceTensor x, DeviceTensor gamma, DeviceTensor mean, DeviceTensor rstd, DeviceTensor dy, DeviceTensor dx,
            DeviceTensor dgamma, DeviceTensor dbeta) {
        matrix("x", x);
        same("x", x, "dy", dy);
        if (dx != null) same("x", x, "dx", dx);
        count("gamma", gamma, x.dim(1));
        if (dgamma != null) count("dgamma", dgamma, x.dim(1));
        if (dbeta != null) count("dbeta", dbeta, x.dim(1));
        count("mean", mean, x.dim(0));
        count("rstd", rstd, x.dim(0));
        check(tune4j_cuda_h.t4j_cuda_layernorm_backward(x.dim(0), x.dim(1), x.pointer(), gamma.pointer(), mean.pointer(), rstd.pointer(), dy.pointer(),
                ptr(dx), ptr(dgamma), ptr(dbeta), streamHandle()), "layernorm_backward");
    }

    /** probs = softmax(logits [m, n]); losses [m] = each row's cross-entropy against labels [m] (I32) */
    public void crossEntropyForward(DeviceTensor logits, DeviceTensor labels, float smoothing, DeviceTensor probs, DeviceTensor losses) {
        matrix("logits", logits);
        same("logits", logits, "probs", probs);
        type("labels", labels, DeviceTensor.Type.I32);
        count("labels", labels, logits.dim(0));
        count("losses", losses, logits.dim(0));
        smoothing(smoothing);
        check(tune4j_cuda_h.t4j_cuda_cross_entropy_forward(logits.dim(0), logits.dim(1), logits.pointer(), labels.pointer(), smoothing, probs.pointer(),
                losses.pointer(), streamHandle()), "cross_entropy_forward");
    }

    /** dlogits += scale (probs - target) */
    public void crossEntropyBackward(DeviceTensor probs, DeviceTensor labels, float smoothing, float scale, DeviceTensor dlogits) {
        matrix("probs", probs);
        same("probs", probs, "dlogits", dlogits);
        type("labels", labels, DeviceTensor.Type.I32);
        count("labels", labels, probs.dim(0));
        smoothing(smoothing);
        check(tune4j_cuda_h.t4j_cuda_cross_entropy_backward(probs.dim(0), probs.dim(1), probs.pointer(), labels.pointer(), smoothing, scale,
                dlogits.pointer(), streamHandle()), "cross_entropy_backward");
    }

    /** AdamW over flat buffers (PyTorch's semantics); step counts from 1 */
    public void adamwStep(DeviceTensor param, DeviceTensor grad, DeviceTensor m, DeviceTensor v, float lr, float beta1, float beta2, float eps,
            float weightDecay, long step) {
        adamwStep(param, grad, null, m, v, lr, beta1, beta2, eps, weightDecay, step);
    }

    /** As {@link #adamwStep}, with the gradient multiplied by gradScale [1], a device scalar (gradient clipping's factor; null: 1). */
    public void adamwStep(DeviceTensor param, DeviceTensor grad, DeviceTensor gradScale, DeviceTensor m, DeviceTensor v, float lr, float beta1, float beta2,
            float eps, float weightDecay, long step) {
        same("param", param, "grad", grad);
        same("param", param, "m", m);
        same("param", param, "v", v);
        if (gradScale != null) {
            type("gradScale", gradScale, DeviceTensor.Type.F32);
            count("gradScale", gradScale, 1);
        }
        if (step < 1) throw new IllegalArgumentException("step counts from 1, is " + step);
        check(tune4j_cuda_h.t4j_cuda_adamw_step_scaled(param.numel(), param.pointer(), grad.pointer(), ptr(gradScale), m.pointer(), v.pointer(), lr,
                beta1, beta2, eps, weightDecay, step, streamHandle()), "adamw_step");
    }

    // ---- int8 ----

    /** q [m, k] (I8) and scales [m]: per row, round half to even (ARCHITECTURE.md, "Numerics") */
    public void quantizeRows(DeviceTensor x, DeviceTensor q, DeviceTensor scales) {
        matrix("x", x);
        type("x", x, DeviceTensor.Type.F32);
        type("q", q, DeviceTensor.Type.I8);
        count("q", q, x.numel());
        count("scales", scales, x.dim(0));
        check(tune4j_cuda_h.t4j_cuda_quantize_rows(x.dim(0), x.dim(1), x.pointer(), q.pointer(), scales.pointer(), streamHandle()), "quantize_rows");
    }

    public void dequantizeRows(DeviceTensor q, DeviceTensor scales, DeviceTensor x) {
        matrix("q", q);
        type("q", q, DeviceTensor.Type.I8);
        type("x", x, DeviceTensor.Type.F32);
        count("x", x, q.numel());
        count("scales", scales, q.dim(0));
        check(tune4j_cuda_h.t4j_cuda_dequantize_rows(q.dim(0), q.dim(1), q.pointer(), scales.pointer(), x.pointer(), streamHandle()), "dequantize_rows");
    }

    /** y [m, n] = acc (I32) · sx[row] · sw[col] + bias[col] (bias may be null): the epilogue of an int8 GEMM, acc = qx qwᵀ */
    public void dequantizeGemm(DeviceTensor acc, DeviceTensor sx, DeviceTensor sw, DeviceTensor bias, DeviceTensor y) {
        matrix("acc", acc);
        type("acc", acc, DeviceTensor.Type.I32);
        type("y", y, DeviceTensor.Type.F32);
        count("y", y, acc.numel());
        count("sx", sx, acc.dim(0));
        count("sw", sw, acc.dim(1));
        if (bias != null) count("bias", bias, acc.dim(1));
        check(tune4j_cuda_h.t4j_cuda_dequantize_gemm(acc.dim(0), acc.dim(1), acc.pointer(), sx.pointer(), sw.pointer(), ptr(bias), y.pointer(), streamHandle()),
                "dequantize_gemm");
    }

    // ---- sparse ----

    /** A CSR weight on the device (row pointers, int32 column indices, values), from the CPU's format. */
    public record DeviceCsr(long rows, long cols, long nnz, DeviceTensor rowPtr, DeviceTensor colIdx, DeviceTensor values) implements AutoCloseable {
        @Override
        public void close() {
            rowPtr.close();
            colIdx.close();
            values.close();
        }
    }

    public DeviceCsr upload(CsrWeights w) {
        try (Arena arena = Arena.ofConfined()) {
            long nnz = w.nnz();
            Tensor rp = Tensor.zeros(arena, DType.I32, 2 * (w.rows() + 1)); // int64 row pointers as pairs of int32 words
            for (long j = 0; j <= w.rows(); j++) rp.segment().setAtIndex(ValueLayout.JAVA_LONG, j, w.rowStart(j));
            Tensor ci = Tensor.zeros(arena, DType.I32, Math.max(1, nnz)), v = Tensor.zeros(arena, DType.F32, Math.max(1, nnz));
            for (long e = 0; e < nnz; e++) {
                ci.setInt(e, (int) w.col(e));
                v.setFloat(e, w.values().getFloat(e));
            }
            return new DeviceCsr(w.rows(), w.cols(), nnz, upload(rp), upload(ci), upload(v));
        }
    }

    /** c [n, m] = W b, W [n, k] sparse, b [k, m] dense */
    public void csrSpmm(DeviceCsr w, DeviceTensor b, DeviceTensor c) {
        matrix("b", b);
        matrix("c", c);
        if (b.dim(0) != w.cols()) throw new IllegalArgumentException("b has " + b.dim(0) + " rows, W has " + w.cols() + " columns");
        if (c.dim(0) != w.rows() || c.dim(1) != b.dim(1)) throw new IllegalArgumentException("c must be [" + w.rows() + ", " + b.dim(1) + "], is " + c);
        if (b.dim(1) > 65535L * 128 || w.rows() > Integer.MAX_VALUE) throw new IllegalArgumentException("CSR x dense takes up to 2^31 rows and 8388480 columns, got " + c);
        check(tune4j_cuda_h.t4j_cuda_csr_spmm(w.rows(), w.cols(), b.dim(1), w.nnz(), w.rowPtr().pointer(), w.colIdx().pointer(), w.values().pointer(),
                b.pointer(), b.dim(1), c.pointer(), c.dim(1), streamHandle()), "csr_spmm");
    }

}
