package org.tune4j.backend.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import org.tune4j.backend.Backend;
import org.tune4j.backend.BackendChecks;
import org.tune4j.backend.LoraAdapters;
import org.tune4j.bindings.tune4j_cuda_h;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Memory;
import org.tune4j.tensor.Tensor;

/**
 * The engine's {@link Backend} on a GPU: tensors in device memory ({@link #memory()}: blocks of a caching
 * allocator), one stream, the kernels of {@code kernels/} (libtune4j_cuda.so) and cuBLAS. Every op is queued on
 * the stream and returns at once; reading a result on the host (a copy to the host, a loss, {@link #synchronize})
 * waits for the GPU, so a sequence of ops runs without host synchronisation. An op without a kernel for its
 * arguments runs on the CPU through {@link HostFallbackBackend}, counted ({@link #fallbacks()}).
 *
 * <p>{@link #open} fails with a message saying why where there is no GPU, no driver or no kernels
 * library ({@link CudaStatus}). Not thread-safe: one backend per thread (each has its own stream).
 */
public final class CudaBackend extends HostFallbackBackend implements AutoCloseable {
    private final CudaStatus status;
    private final DeviceAllocator allocator;
    private final MemorySegment stream;
    private final CudaStream owned; // the stream this backend made; null in a view (on), which owns neither stream nor allocator
    private final CudaMemory memory;
    private Cublas cublas; // opened on the first GEMM, on this backend's stream
    private Cublas.Precision gemmPrecision = Cublas.Precision.F32;
    private boolean closed;

    private CudaBackend(CudaStatus status, DeviceAllocator allocator, CudaStream owned, MemorySegment stream, CudaMemory memory, HostFallback.Counts fallbacks) {
        super(fallbacks != null ? fallbacks : new HostFallback.Counts());
        this.status = status;
        this.allocator = allocator;
        this.owned = owned;
        this.stream = stream;
        this.memory = memory != null ? memory : new CudaMemory(this, "cuda:0");
    }

    /** A backend on device 0; an {@link IllegalStateException} saying why when CUDA cannot run here. */
    public static CudaBackend open() {
        CudaStatus s = CudaStatus.probe();
        if (!s.available()) throw new IllegalStateException("CUDA is not available: " + s.message());
        check(tune4j_cuda_h.t4j_cuda_set_device(0), "cudaSetDevice(0)");
        CudaStream own = new CudaStream();
        return new CudaBackend(s, new DeviceAllocator(), own, own.handle(), null, null);
    }

    public CudaStatus status() {
        return status;
    }

    /**
     * This backend's ops queued on {@code other} instead (same device memory, same allocator): work that
     * may overlap this stream's, ordered against it with {@link CudaStream#follow} and {@link CudaStream#join}.
     * Closing the view releases nothing.
     */
    public CudaBackend on(CudaStream other) {
        return new CudaBackend(status, allocator, null, other.handle(), memory, counts());
    }

    public DeviceAllocator allocator() {
        return allocator;
    }

    /** The stream's handle (a cudaStream_t), for libraries that run on it (cuBLAS). */
    public MemorySegment stream() {
        return stream;
    }

    public void synchronize() {
        check(tune4j_cuda_h.t4j_cuda_stream_synchronize(stream), "cudaStreamSynchronize");
    }

    // ---- Backend: the engine's ops over Tensors in this backend's memory (ARCHITECTURE.md, "One engine") ----
    // An op runs its kernels when every tensor is in this memory in the layout the kernel takes; otherwise, and
    // for the ops with no kernel here, HostFallbackBackend's: the CPU on host copies, counted by op name
    // (fallbacks()). Small host inputs a kernel only reads (labels, ids, lengths) are staged on the device.

    @Override
    public String name() {
        return "cuda";
    }

    @Override
    public Memory memory() {
        return memory;
    }

    /**
     * Whether every tensor is given, lives in this backend's memory and is contiguous: a kernel's fast path. Anything
     * else (a null, a host tensor, a view) goes to the host fallback, whose checks refuse a bad call by name.
     */
    boolean here(Tensor... ts) {
        for (Tensor t : ts) if (t == null || t.memory() != memory || !t.isContiguous() || !t.isAlive()) return false;
        return true;
    }

    /** As {@link #here}, a null allowed: the optional arguments (a mask, a bias, a gradient not wanted). */
    boolean hereOrNull(Tensor... ts) {
        for (Tensor t : ts) if (t != null && !here(t)) return false;
        return true;
    }

    /** Whether every tensor is given and lives here, any row stride (what cuBLAS takes). */
    boolean hereStrided(Tensor... ts) {
        for (Tensor t : ts) if (t == null || t.memory() != memory || !t.isAlive()) return false;
        return true;
    }

    /** How {@link #gemm} computes on f32 tensors: IEEE f32 (the default), or TF32 or bf16 tensor cores ({@link Cublas.Precision}). */
    public void setGemmPrecision(Cublas.Precision precision) {
        gemmPrecision = java.util.Objects.requireNonNull(precision, "precision");
    }

    private Cublas cublas() {
        if (cublas == null) cublas = Cublas.open(this);
        return cublas;
    }

    static MemorySegment p(Tensor t) {
        return t == null ? MemorySegment.NULL : t.pointer();
    }

    /** A device copy of a small host input (labels), freed with {@code arena} after the stream's work in order. */
    Tensor staged(Arena arena, Tensor t) {
        return t.memory() == memory ? t : t.copy(arena, memory);
    }

    @Override
    public void gemm(boolean transA, boolean transB, float alpha, Tensor a, Tensor b, float beta, Tensor c) {
        BackendChecks.finite("alpha", alpha); // the scalars on either path; the tensors' checks are the fallback's
        BackendChecks.finite("beta", beta);
        if (hereStrided(a, b, c) && a.dtype() == DType.F32 && b.dtype() == DType.F32 && c.dtype() == DType.F32) {
            cublas().gemm(transA, transB, alpha, a, b, beta, c, gemmPrecision);
            return;
        }
        super.gemm(transA, transB, alpha, a, b, beta, c);
    }

    @Override
    public void loraForward(Tensor x, Tensor mask, Tensor w, Tensor bias, Tensor a, Tensor b, float scale, Tensor h, Tensor y) {
        BackendChecks.finite("scale", scale);
        if (!CudaLora.forward(this, x, mask, w, bias, a, b, scale, h, y)) super.loraForward(x, mask, w, bias, a, b, scale, h, y);
    }

    @Override
    public void loraBackward(Tensor x, Tensor mask, Tensor w, Tensor a, Tensor b, float scale, Tensor h, Tensor g, Tensor dx, Tensor da, Tensor db) {
        BackendChecks.finite("scale", scale);
        if (!CudaLora.backward(this, x, mask, w, a, b, scale, h, g, dx, da, db)) super.loraBackward(x, mask, w, a, b, scale, h, g, dx, da, db);
    }

    @Override
    public void loraShrinkRows(Tensor x, Tensor rowAdapter, LoraAdapters adapters, Tensor h) {
        if (!CudaMixedLora.shrinkRows(this, x, rowAdapter, adapters, h)) super.loraShrinkRows(x, rowAdapter, adapters, h);
    }

    @Override
    public void loraExpandRows(Tensor h, Tensor rowAdapter, LoraAdapters adapters, Tensor y) {
        if (!CudaMixedLora.expandRows(this, h, rowAdapter, adapters, y)) super.loraExpandRows(h, rowAdapter, adapters, y);
    }

    @Override
    public void loraShrinkSegments(Tensor x, Tensor segStart, Tensor segAdapter, LoraAdapters adapters, Tensor h) {
        if (!CudaMixedLora.shrinkSegments(this, x, segStart, segAdapter, adapters, h)) super.loraShrinkSegments(x, segStart, segAdapter, adapters, h);
    }

    @Override
    public void loraExpandSegments(Tensor h, Tensor segStart, Tensor segAdapter, LoraAdapters adapters, Tensor y) {
        if (!CudaMixedLora.expandSegments(this, h, segStart, segAdapter, adapters, y)) super.loraExpandSegments(h, segStart, segAdapter, adapters, y);
    }

    @Override
    public void loraMixedForward(Tensor x, Tensor w, Tensor bias, Tensor segStart, Tensor segAdapter, LoraAdapters adapters, Tensor h, Tensor y) {
        if (!CudaMixedLora.mixedForward(this, x, w, bias, segStart, segAdapter, adapters, h, y)) super.loraMixedForward(x, w, bias, segStart, segAdapter, adapters, h, y);
    }

    @Override
    public void loraMerge(Tensor w, Tensor a, Tensor b, float scale, float sign) {
        BackendChecks.finite("scale", scale);
        if ((sign == 1f || sign == -1f) && here(w, a, b)) gemm(false, false, sign * scale, b, a, 1f, w); // W += sign·s·B A
        else super.loraMerge(w, a, b, scale, sign);
    }

    /** Whether every non-null tensor is F32. */
    static boolean f32(Tensor... ts) {
        for (Tensor t : ts) if (t != null && t.dtype() != DType.F32) return false;
        return true;
    }

    static boolean sameSize(Tensor a, Tensor b) {
        return a.numel() == b.numel() && a.dtype() == DType.F32 && b.dtype() == DType.F32;
    }

    @Override
    public void quantizeRows(Tensor x, Tensor q, Tensor scales) {
        if (!CudaKernels.quantizeRows(this, x, q, scales)) super.quantizeRows(x, q, scales);
    }

    @Override
    public void dequantizeRows(Tensor q, Tensor scales, Tensor x) {
        if (!CudaKernels.dequantizeRows(this, q, scales, x)) super.dequantizeRows(q, scales, x);
    }

    @Override
    public void add(Tensor a, Tensor b, Tensor y) {
        if (here(a, b, y) && sameSize(a, b) && sameSize(a, y)) {
            check(tune4j_cuda_h.t4j_cuda_add(a.numel(), a.pointer(), b.pointer(), y.pointer(), stream), "add");
            return;
        }
        super.add(a, b, y);
    }

    @Override
    public void axpy(float alpha, Tensor x, Tensor y) {
        BackendChecks.finite("alpha", alpha);
        if (here(x, y) && sameSize(x, y)) {
            check(tune4j_cuda_h.t4j_cuda_axpy(x.numel(), alpha, x.pointer(), y.pointer(), stream), "axpy");
            return;
        }
        super.axpy(alpha, x, y);
    }

    @Override
    public void scale(float alpha, Tensor y) {
        BackendChecks.finite("alpha", alpha);
        if (here(y) && y.dtype() == DType.F32) { // y = alpha·y, in place, as one row
            check(tune4j_cuda_h.t4j_cuda_scale_into(1, y.numel(), y.pointer(), y.numel(), alpha, y.pointer(), y.numel(), 0, stream), "scale_into");
            return;
        }
        super.scale(alpha, y);
    }

    /** x a matrix of F32 here, contiguous. */
    private boolean matrixHere(Tensor x) {
        return here(x) && x.rank() == 2 && x.dtype() == DType.F32;
    }

    @Override
    public void mulRow(Tensor row, Tensor y) {
        if (matrixHere(y) && here(row) && row.dtype() == DType.F32 && row.numel() == y.dim(1)) {
            check(tune4j_cuda_h.t4j_cuda_mul_row(y.dim(0), y.dim(1), row.pointer(), y.pointer(), stream), "mul_row");
            return;
        }
        super.mulRow(row, y);
    }

    @Override
    public void rowSquares(Tensor x, Tensor out) {
        if (matrixHere(x) && here(out) && out.dtype() == DType.F32 && out.numel() == x.dim(0)) {
            check(tune4j_cuda_h.t4j_cuda_row_squares(x.dim(0), x.dim(1), x.pointer(), out.pointer(), stream), "row_squares");
            return;
        }
        super.rowSquares(x, out);
    }

    @Override
    public void sumRowsProduct(Tensor a, Tensor b, Tensor out) {
        if (matrixHere(a) && matrixHere(b) && here(out) && java.util.Arrays.equals(a.shape(), b.shape()) && out.dtype() == DType.F32 && out.numel() == a.dim(1)) {
            check(tune4j_cuda_h.t4j_cuda_sum_rows_product(a.dim(0), a.dim(1), a.pointer(), b.pointer(), out.pointer(), stream), "sum_rows_product");
            return;
        }
        super.sumRowsProduct(a, b, out);
    }

    @Override
    public void reluForward(Tensor x, Tensor y) {
        if (here(x, y) && sameSize(x, y)) {
            check(tune4j_cuda_h.t4j_cuda_relu_forward(x.numel(), x.pointer(), y.pointer(), stream), "relu_forward");
            return;
        }
        super.reluForward(x, y);
    }

    @Override
    public void reluBackward(Tensor x, Tensor dy, Tensor dx) {
        if (here(x, dy, dx) && sameSize(x, dy) && sameSize(x, dx)) {
            check(tune4j_cuda_h.t4j_cuda_relu_backward(x.numel(), x.pointer(), dy.pointer(), dx.pointer(), stream), "relu_backward");
            return;
        }
        super.reluBackward(x, dy, dx);
    }

    @Override
    public void softmaxBackward(Tensor y, Tensor dy, Tensor dx) {
        if (matrixHere(y) && here(dy, dx) && sameSize(y, dy) && sameSize(y, dx)) {
            check(tune4j_cuda_h.t4j_cuda_softmax_backward(y.dim(0), y.dim(1), y.pointer(), dy.pointer(), dx.pointer(), stream), "softmax_backward");
            return;
        }
        super.softmaxBackward(y, dy, dx);
    }

    @Override
    public void addRow(Tensor row, Tensor y) {
        if (!here(y) || !addRowInto(row, y)) super.addRow(row, y); // a view of y is refused, as on the CPU
    }

    /** y (here, any row stride: a layer's output view) += row on every row by the kernel; false where the call does not fit it. */
    boolean addRowInto(Tensor row, Tensor y) {
        if (!here(row) || !hereStrided(y) || y.rank() != 2 || row.numel() != y.dim(1) || row.dtype() != DType.F32 || y.dtype() != DType.F32) return false;
        check(tune4j_cuda_h.t4j_cuda_add_row(y.dim(0), y.dim(1), row.pointer(), y.pointer(), y.ld(), stream), "add_row");
        return true;
    }

    @Override
    public void lowRankAdd(Tensor h, Tensor bt, float scale, Tensor y) {
        BackendChecks.finite("scale", scale);
        if (here(h, bt) && hereStrided(y)) gemm(false, false, scale, h, bt, 1f, y); // the CPU's layouts: h and bt contiguous, y any row stride
        else super.lowRankAdd(h, bt, scale, y);
    }

    @Override
    public void sumRows(Tensor x, Tensor out) {
        if (here(x, out) && x.rank() == 2 && out.numel() == x.dim(1) && x.dtype() == DType.F32 && out.dtype() == DType.F32) {
            check(tune4j_cuda_h.t4j_cuda_sum_rows(x.dim(0), x.dim(1), x.pointer(), out.pointer(), stream), "sum_rows");
            return;
        }
        super.sumRows(x, out);
    }

    @Override
    public double sumSquares(Tensor x) {
        if (here(x) && x.dtype() == DType.F32) {
            try (Arena scratch = Arena.ofConfined()) {
                Tensor out = memory.empty(scratch, DType.F32, 1);
                check(tune4j_cuda_h.t4j_cuda_sum_squares(x.numel(), x.pointer(), out.pointer(), stream), "sum_squares");
                return out.toFloatArray()[0];
            }
        }
        return super.sumSquares(x);
    }

    @Override
    public void geluForward(Tensor x, Tensor y, boolean exact) {
        if (here(x, y) && sameSize(x, y)) {
            check(exact ? tune4j_cuda_h.t4j_cuda_gelu_erf_forward(x.numel(), x.pointer(), y.pointer(), stream)
                    : tune4j_cuda_h.t4j_cuda_gelu_forward(x.numel(), x.pointer(), y.pointer(), stream), "gelu_forward");
            return;
        }
        super.geluForward(x, y, exact);
    }

    @Override
    public void geluBackward(Tensor x, Tensor dy, Tensor dx, boolean exact) {
        if (here(x, dy, dx) && sameSize(x, dy) && sameSize(x, dx)) {
            check(exact ? tune4j_cuda_h.t4j_cuda_gelu_erf_backward(x.numel(), x.pointer(), dy.pointer(), dx.pointer(), stream)
                    : tune4j_cuda_h.t4j_cuda_gelu_backward(x.numel(), x.pointer(), dy.pointer(), dx.pointer(), stream), "gelu_backward");
            return;
        }
        super.geluBackward(x, dy, dx, exact);
    }

    @Override
    public void softmaxForward(Tensor x, Tensor y) {
        if (here(x, y) && x.rank() == 2 && sameSize(x, y)) {
            check(tune4j_cuda_h.t4j_cuda_softmax_forward(x.dim(0), x.dim(1), x.pointer(), y.pointer(), stream), "softmax_forward");
            return;
        }
        super.softmaxForward(x, y);
    }

    @Override
    public void layerNormForward(Tensor x, Tensor gamma, Tensor beta, float eps, Tensor y, Tensor mean, Tensor rstd) {
        BackendChecks.positive("eps", eps);
        if (here(x, gamma, beta, y, mean, rstd) && x.rank() == 2 && sameSize(x, y) && f32(gamma, beta, mean, rstd) && gamma.numel() == x.dim(1) && beta.numel() == x.dim(1)
                && mean.numel() == x.dim(0) && rstd.numel() == x.dim(0)) {
            check(tune4j_cuda_h.t4j_cuda_layer_norm_forward(x.dim(0), x.dim(1), x.pointer(), gamma.pointer(), beta.pointer(), eps, y.pointer(), mean.pointer(),
                    rstd.pointer(), stream), "layer_norm_forward");
            return;
        }
        super.layerNormForward(x, gamma, beta, eps, y, mean, rstd);
    }

    @Override
    public void layerNormBackward(Tensor x, Tensor gamma, Tensor mean, Tensor rstd, Tensor dy, Tensor dx, Tensor dgamma, Tensor dbeta) {
        if (here(x, gamma, mean, rstd, dy) && hereOrNull(dx, dgamma, dbeta) && x.rank() == 2 && sameSize(x, dy) && f32(gamma, mean, rstd, dgamma, dbeta) && (dx == null || sameSize(x, dx))
                && gamma.numel() == x.dim(1) && (dgamma == null || dgamma.numel() == x.dim(1)) && (dbeta == null || dbeta.numel() == x.dim(1))
                && mean.numel() == x.dim(0) && rstd.numel() == x.dim(0)) {
            check(tune4j_cuda_h.t4j_cuda_layer_norm_backward(x.dim(0), x.dim(1), x.pointer(), gamma.pointer(), mean.pointer(), rstd.pointer(), dy.pointer(),
                    p(dx), p(dgamma), p(dbeta), stream), "layer_norm_backward");
            return;
        }
        super.layerNormBackward(x, gamma, mean, rstd, dy, dx, dgamma, dbeta);
    }

    @Override
    public float crossEntropyForward(Tensor logits, Tensor labels, float smoothing, Tensor probs) {
        Float loss = CudaStepOps.crossEntropyForward(this, logits, labels, smoothing, probs);
        return loss != null ? loss : super.crossEntropyForward(logits, labels, smoothing, probs);
    }

    @Override
    public void crossEntropyLoss(Tensor logits, Tensor labels, float smoothing, Tensor probs, Tensor loss) {
        if (!CudaStepOps.crossEntropyLoss(this, logits, labels, smoothing, probs, loss)) super.crossEntropyLoss(logits, labels, smoothing, probs, loss);
    }

    @Override
    public void crossEntropyBackward(Tensor probs, Tensor labels, float smoothing, float dloss, Tensor dlogits) {
        BackendChecks.finite("dloss", dloss);
        if (!CudaStepOps.crossEntropyBackward(this, probs, labels, smoothing, dloss, dlogits)) super.crossEntropyBackward(probs, labels, smoothing, dloss, dlogits);
    }

    @Override
    public void clipGradNorm(Tensor[] grads, float maxNorm, Tensor norm) {
        CudaStepOps.clipGradNorm(this, grads, maxNorm, norm);
    }

    @Override
    public void gatherColumns(Tensor x, Tensor index, Tensor y) {
        if (!CudaStepOps.gatherColumns(this, x, index, y)) super.gatherColumns(x, index, y);
    }

    @Override
    public void vitTokens(Tensor patches, Tensor cls, Tensor pos, int batch, Tensor y) {
        if (!CudaStepOps.vitTokens(this, patches, cls, pos, batch, y)) super.vitTokens(patches, cls, pos, batch, y);
    }

    @Override
    public void pgdStep(Tensor adv, Tensor grad, Tensor orig, float stepSize, float epsilon) {
        if (!CudaStepOps.pgdStep(this, adv, grad, orig, stepSize, epsilon)) super.pgdStep(adv, grad, orig, stepSize, epsilon);
    }

    /** Records {@code work} as a CUDA graph ({@link CudaGraph}) and launches it; when it cannot be recorded, runs it op by op and says why. */
    @Override
    public org.tune4j.backend.Recording record(Runnable work) {
        if (work == null) throw new IllegalArgumentException("work is null");
        CudaGraph graph;
        try {
            graph = CudaGraph.capture(this, work);
        } catch (IllegalStateException e) {
            work.run();
            return org.tune4j.backend.Recording.eager(work, e.getMessage());
        }
        graph.launch();
        return org.tune4j.backend.Recording.graph(graph::launch, graph);
    }

    @Override
    public void attentionForward(int batch, int heads, Tensor q, Tensor k, Tensor v, float scale, Tensor lengths, Tensor probs, Tensor out) {
        BackendChecks.finite("scale", scale);
        boolean done = probs == null ? CudaAttention.forwardUnkept(this, batch, heads, q, k, v, scale, lengths, out)
                : CudaAttention.forward(this, batch, heads, q, k, v, scale, lengths, probs, out);
        if (!done) super.attentionForward(batch, heads, q, k, v, scale, lengths, probs, out);
    }

    @Override
    public void attentionBackward(int batch, int heads, Tensor q, Tensor k, Tensor v, float scale, Tensor probs, Tensor dout, Tensor dq, Tensor dk, Tensor dv) {
        BackendChecks.finite("scale", scale);
        if (!CudaAttention.backward(this, batch, heads, q, k, v, scale, probs, dout, dq, dk, dv)) super.attentionBackward(batch, heads, q, k, v, scale, probs, dout, dq, dk, dv);
    }

    @Override
    public void gatherRowsAdd(Tensor ids, Tensor table, Tensor y) {
        if (!CudaEmbeddings.gatherRowsAdd(this, ids, table, y)) super.gatherRowsAdd(ids, table, y);
    }

    @Override
    public void scatterRowsAdd(Tensor ids, Tensor dy, Tensor dtable) {
        if (!CudaEmbeddings.scatterRowsAdd(this, ids, dy, dtable)) super.scatterRowsAdd(ids, dy, dtable);
    }

    @Override
    public void adamwStep(Tensor param, Tensor grad, Tensor m, Tensor v, Tensor schedule, float lrScale, float beta1, float beta2, float eps, float weightDecay) {
        CudaStepOps.adamwStep(this, param, grad, m, v, schedule, lrScale, beta1, beta2, eps, weightDecay);
    }

    @Override
    public void adamwStep(Tensor param, Tensor grad, Tensor m, Tensor v, float lr, float beta1, float beta2, float eps, float weightDecay, long step) {
        BackendChecks.adamw(lr, beta1, beta2, eps, weightDecay);
        if (here(param, grad, m, v) && sameSize(param, grad) && sameSize(param, m) && sameSize(param, v) && step >= 1) {
            check(tune4j_cuda_h.t4j_cuda_adamw_step(param.numel(), param.pointer(), grad.pointer(), m.pointer(), v.pointer(), lr, beta1, beta2, eps,
                    weightDecay, step, stream), "adamw_step");
            return;
        }
        super.adamwStep(param, grad, m, v, lr, beta1, beta2, eps, weightDecay, step);
    }

    @Override
    void ensureOpen() {
        if (closed) throw new IllegalStateException("this CUDA backend is closed");
    }

    static void check(int rc, String what) {
        if (rc != 0) throw new IllegalStateException("CUDA error in " + what + ": " + CudaStatus.errorString(rc));
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        if (cublas != null) cublas.close();
        if (owned == null) return;
        tune4j_cuda_h.t4j_cuda_stream_synchronize(stream);
        allocator.close();
        owned.close();
    }
}
