package org.tune4j.train;

import java.lang.foreign.Arena;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import org.tune4j.backend.cuda.Cublas;
import org.tune4j.backend.cuda.CudaBackend;
import org.tune4j.backend.cuda.CudaGraph;
import org.tune4j.backend.cuda.CudaTransformerOps;
import org.tune4j.backend.cuda.DeviceTensor;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * {@link VitStepOps} on a GPU: device tensors, {@link CudaBackend}'s and {@link CudaTransformerOps}' kernels, cuBLAS, all on one
 * stream; {@link #runRecorded} replays a step's gradients as a CUDA graph (the main job's ViT is small: launches, not FLOPs, set
 * its step time).
 */
final class CudaVitStepOps implements VitStepOps<DeviceTensor> {
    private final CudaBackend gpu;
    private final Cublas blas;
    private final CudaTransformerOps ops;
    private final Cublas.Precision precision;
    // Scratch made on first use and kept until close, never replaced: a recorded graph holds its address.
    private final Map<Long, DeviceTensor> rowLosses = new HashMap<>(); // crossEntropyForward's per-row losses, by rows
    private final Map<Long, DeviceTensor> ones = new HashMap<>(); // sumRows' rows of ones, by length
    private final boolean graphs; // runRecorded records CUDA graphs (false: every run queues its ops one by one)
    private final Map<Object, CudaGraph> recorded = new HashMap<>();
    private final Set<Object> ranOnce = new HashSet<>(), notRecordable = new HashSet<>();

    CudaVitStepOps(CudaBackend gpu, Cublas.Precision precision, boolean graphs) {
        this.graphs = graphs;
        this.gpu = gpu;
        this.blas = Cublas.open(gpu);
        this.ops = new CudaTransformerOps(gpu);
        this.precision = precision;
    }

    @Override
    public DeviceTensor empty(long... shape) {
        return gpu.empty(DeviceTensor.Type.F32, shape);
    }

    @Override
    public DeviceTensor emptyInts(long n) {
        return gpu.empty(DeviceTensor.Type.I32, n);
    }

    @Override
    public DeviceTensor upload(Tensor host) {
        return gpu.upload(host);
    }

    @Override
    public void upload(Tensor host, DeviceTensor dst) {
        gpu.upload(host, dst);
    }

    @Override
    public void download(DeviceTensor src, Tensor host) {
        gpu.download(src, host);
    }

    @Override
    public void zero(DeviceTensor t) {
        gpu.zero(t);
    }

    @Override
    public void copy(DeviceTensor src, DeviceTensor dst) {
        gpu.copy(src, dst);
    }

    @Override
    public void gemm(boolean transA, boolean transB, float alpha, DeviceTensor a, DeviceTensor b, float beta, DeviceTensor c) {
        blas.gemm(transA, transB, alpha, a, b, beta, c, precision);
    }

    @Override
    public void addBias(DeviceTensor bias, DeviceTensor y) {
        ops.addBias(bias, y);
    }

    @Override
    public void sumRows(DeviceTensor x, DeviceTensor out) {
        long m = x.dim(0), n = x.dim(1);
        DeviceTensor row = ones.computeIfAbsent(m, length -> {
            try (Arena arena = Arena.ofConfined()) {
                Tensor host = Tensor.zeros(arena, DType.F32, 1, length);
                for (long i = 0; i < length; i++) host.setFloat(i, 1f);
                return gpu.upload(host);
            }
        });
        // out [1, n] += ones [1, m] · x [m, n], one GEMM rather than a reduction kernel
        blas.gemm(false, false, 1f, row, x, 1f, out.reshape(1, n), precision);
    }

    @Override
    public DeviceTensor reshape(DeviceTensor t, long... shape) {
        return t.reshape(shape);
    }

    @Override
    public void add(DeviceTensor a, DeviceTensor b, DeviceTensor y) {
        gpu.add(a, b, y);
    }

    @Override
    public void copy2d(long rows, long cols, DeviceTensor src, long lds, DeviceTensor dst, long ldd) {
        ops.copy2d(rows, cols, src, lds, dst, ldd);
    }

    @Override
    public void gatherColumns(DeviceTensor src, DeviceTensor index, DeviceTensor dst) {
        long n = index.numel(), m = src.numel() / n;
        ops.gatherColumns(src.reshape(m, n), index, dst.reshape(m, n));
    }

    @Override
    public void patchRowsOfTokens(int batch, DeviceTensor x, DeviceTensor emb) {
        long d = emb.dim(1), p = emb.dim(0) / batch, seq = p + 1;
        // rows 1.. of x seen from row 1: sequence b's patch rows start b·seq rows in, p·d values each
        ops.copy2d(batch, p * d, x.rows(1, x.dim(0) - 1), seq * d, emb, p * d);
    }

    @Override
    public void vitTokens(int batch, DeviceTensor emb, DeviceTensor cls, DeviceTensor pos, DeviceTensor x) {
        ops.vitTokens(batch, emb, cls, pos, x);
    }

    @Override
    public void layerNormForward(DeviceTensor x, DeviceTensor gamma, DeviceTensor beta, float eps, DeviceTensor y, DeviceTensor mean, DeviceTensor rstd) {
        gpu.layerNormForward(x, gamma, beta, eps, y, mean, rstd);
    }

    @Override
    public void layerNormBackward(DeviceTensor x, DeviceTensor gamma, DeviceTensor mean, DeviceTensor rstd, DeviceTensor dy, DeviceTensor dx,
            DeviceTensor dgamma, DeviceTensor dbeta) {
        gpu.layerNormBackward(x, gamma, mean, rstd, dy, dx, dgamma, dbeta);
    }

    @Override
    public void geluForward(DeviceTensor x, DeviceTensor y) {
        gpu.geluForward(x, y);
    }

    @Override
    public void geluBackward(DeviceTensor x, DeviceTensor dy, DeviceTensor dx) {
        gpu.geluBackward(x, dy, dx);
    }

    @Override
    public void attentionForward(int batch, int heads, DeviceTensor qkv, float scale, DeviceTensor probs, DeviceTensor out) {
        ops.attentionForward(batch, heads, qkv, scale, probs, out);
    }

    @Override
    public void attentionBackward(int batch, int heads, DeviceTensor qkv, DeviceTensor probs, DeviceTensor dout, float scale, DeviceTensor dqkv) {
        ops.attentionBackward(batch, heads, qkv, probs, dout, scale, dqkv);
    }

    @Override
    public void crossEntropyForward(DeviceTensor logits, DeviceTensor labels, float smoothing, DeviceTensor probs, DeviceTensor lossSum) {
        DeviceTensor losses = rowLosses.computeIfAbsent(logits.dim(0), rows -> gpu.empty(DeviceTensor.Type.F32, rows));
        gpu.crossEntropyForward(logits, labels, smoothing, probs, losses);
        gpu.sum(losses, lossSum);
    }

    @Override
    public void crossEntropyBackwardMean(DeviceTensor probs, DeviceTensor labels, float smoothing, DeviceTensor dlogits) {
        gpu.crossEntropyBackward(probs, labels, smoothing, 1f / probs.dim(0), dlogits);
    }

    @Override
    public void sumSquares(DeviceTensor x, DeviceTensor sums, int slot) {
        ops.sumSquares(x, sums.rows(slot, 1));
    }

    @Override
    public void clipScale(DeviceTensor sums, float maxNorm, DeviceTensor scale) {
        ops.clipScale(sums, maxNorm, scale);
    }

    @Override
    public void adamw(DeviceTensor param, DeviceTensor grad, DeviceTensor gradScale, DeviceTensor m, DeviceTensor v, float lr, float weightDecay,
            long step) {
        gpu.adamwStep(param, grad, gradScale, m, v, lr, 0.9f, 0.999f, 1e-8f, weightDecay, step);
    }

    /** The first run queues its ops; the second records them as a CUDA graph and launches it; later ones launch it again. */
    @Override
    public void runRecorded(Object key, Runnable work) {
        CudaGraph graph = recorded.get(key);
        if (graph != null) {
            graph.launch();
            return;
        }
        if (!graphs || ranOnce.add(key) || notRecordable.contains(key)) {
            work.run();
            return;
        }
        try {
            graph = CudaGraph.capture(gpu, work);
        } catch (IllegalStateException cannot) { // nothing was run: run it as it is, now and from now on
            notRecordable.add(key);
            work.run();
            return;
        }
        recorded.put(key, graph);
        graph.launch();
    }

    @Override
    public void free(DeviceTensor t) {
        t.close();
    }

    @Override
    public void close() {
        rowLosses.values().forEach(DeviceTensor::close);
        ones.values().forEach(DeviceTensor::close);
        recorded.values().forEach(CudaGraph::close);
        recorded.clear();
        blas.close();
    }
}
