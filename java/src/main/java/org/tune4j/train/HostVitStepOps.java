package org.tune4j.train;

import java.lang.foreign.Arena;
import org.tune4j.backend.Backend;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/** {@link VitStepOps} on host tensors through a {@link Backend}: the same step as the GPU's, run where the tape can check it. */
final class HostVitStepOps implements VitStepOps<Tensor> {
    private final Backend backend;
    private final Arena arena = Arena.ofShared();

    HostVitStepOps(Backend backend) {
        this.backend = backend;
    }

    @Override
    public Tensor empty(long... shape) {
        return Tensor.zeros(arena, DType.F32, shape);
    }

    @Override
    public Tensor emptyInts(long n) {
        return Tensor.zeros(arena, DType.I32, n);
    }

    @Override
    public Tensor upload(Tensor host) {
        Tensor t = Tensor.zeros(arena, host.dtype(), host.shape());
        t.copyFrom(host);
        return t;
    }

    @Override
    public void upload(Tensor host, Tensor dst) {
        dst.copyFrom(host);
    }

    @Override
    public void download(Tensor src, Tensor host) {
        host.copyFrom(src);
    }

    @Override
    public void zero(Tensor t) {
        if (!t.isContiguous()) throw new IllegalArgumentException("zero takes a whole tensor, not a view: " + t);
        t.segment().fill((byte) 0);
    }

    @Override
    public void copy(Tensor src, Tensor dst) {
        dst.copyFrom(src);
    }

    @Override
    public void gemm(boolean transA, boolean transB, float alpha, Tensor a, Tensor b, float beta, Tensor c) {
        backend.gemm(transA, transB, alpha, a, b, beta, c);
    }

    @Override
    public void addBias(Tensor bias, Tensor y) {
        backend.addRow(bias, y);
    }

    @Override
    public void sumRows(Tensor x, Tensor out) {
        backend.sumRows(x, reshape(out, out.numel()));
    }

    @Override
    public Tensor reshape(Tensor t, long... shape) {
        if (!t.isContiguous()) throw new IllegalArgumentException("reshape takes a whole tensor, not a view: " + t);
        return Tensor.wrap(t.segment(), t.dtype(), shape);
    }

    @Override
    public void add(Tensor a, Tensor b, Tensor y) {
        backend.add(a, b, y);
    }

    @Override
    public void copy2d(long rows, long cols, Tensor src, long lds, Tensor dst, long ldd) {
        for (long i = 0; i < rows; i++)
            for (long j = 0; j < cols; j++) dst.setFloat(i * ldd + j, src.getFloat(i * lds + j));
    }

    @Override
    public void gatherColumns(Tensor src, Tensor index, Tensor dst) {
        long n = index.numel(), m = src.numel() / n;
        for (long i = 0; i < m; i++)
            for (long j = 0; j < n; j++) dst.setFloat(i * n + j, src.getFloat(i * n + index.getInt(j)));
    }

    @Override
    public void vitTokens(int batch, Tensor emb, Tensor cls, Tensor pos, Tensor x) {
        long d = emb.dim(1), p = emb.dim(0) / batch, seq = p + 1;
        for (long b = 0; b < batch; b++)
            for (long t = 0; t < seq; t++)
                for (long j = 0; j < d; j++) {
                    float v = t == 0 ? cls.getFloat(j) : emb.getFloat((b * p + t - 1) * d + j);
                    x.setFloat((b * seq + t) * d + j, v + pos.getFloat(t * d + j));
                }
    }

    @Override
    public void patchRowsOfTokens(int batch, Tensor x, Tensor emb) {
        long d = emb.dim(1), p = emb.dim(0) / batch, seq = p + 1;
        for (long b = 0; b < batch; b++)
            for (long t = 1; t < seq; t++)
                for (long j = 0; j < d; j++) emb.setFloat((b * p + t - 1) * d + j, x.getFloat((b * seq + t) * d + j));
    }

    @Override
    public void layerNormForward(Tensor x, Tensor gamma, Tensor beta, float eps, Tensor y, Tensor mean, Tensor rstd) {
        backend.layerNormForward(x, gamma, beta, eps, y, mean, rstd);
    }

    @Override
    public void layerNormBackward(Tensor x, Tensor gamma, Tensor mean, Tensor rstd, Tensor dy, Tensor dx, Tensor dgamma, Tensor dbeta) {
        backend.layerNormBackward(x, gamma, mean, rstd, dy, dx, dgamma, dbeta);
    }

    @Override
    public void geluForward(Tensor x, Tensor y) {
        backend.geluForward(x, y, false);
    }

    @Override
    public void geluBackward(Tensor x, Tensor dy, Tensor dx) {
        backend.geluBackward(x, dy, dx, false);
    }

    @Override
    public void attentionForward(int batch, int heads, Tensor qkv, float scale, Tensor probs, Tensor out) {
        long rows = qkv.dim(0), d = qkv.dim(1) / 3;
        backend.attentionForward(batch, heads, qkv.view(0, 0, rows, d), qkv.view(0, d, rows, d), qkv.view(0, 2 * d, rows, d), scale, null, probs, out);
    }

    @Override
    public void attentionBackward(int batch, int heads, Tensor qkv, Tensor probs, Tensor dout, float scale, Tensor dqkv) {
        long rows = qkv.dim(0), d = qkv.dim(1) / 3;
        zero(dqkv); // the backend accumulates
        backend.attentionBackward(batch, heads, qkv.view(0, 0, rows, d), qkv.view(0, d, rows, d), qkv.view(0, 2 * d, rows, d), scale, probs, dout,
                dqkv.view(0, 0, rows, d), dqkv.view(0, d, rows, d), dqkv.view(0, 2 * d, rows, d));
    }

    @Override
    public void crossEntropyForward(Tensor logits, Tensor labels, float smoothing, Tensor probs, Tensor lossSum) {
        lossSum.setFloat(0, backend.crossEntropyForward(logits, labels, smoothing, probs) * logits.dim(0));
    }

    @Override
    public void crossEntropyBackwardMean(Tensor probs, Tensor labels, float smoothing, Tensor dlogits) {
        backend.crossEntropyBackward(probs, labels, smoothing, 1f, dlogits);
    }

    @Override
    public void sumSquares(Tensor x, Tensor sums, int slot) {
        sums.setFloat(slot, (float) backend.sumSquares(x));
    }

    @Override
    public void clipScale(Tensor sums, float maxNorm, Tensor scale) {
        double ss = 0;
        for (long i = 0; i < sums.numel(); i++) ss += sums.getFloat(i);
        double norm = Math.sqrt(ss);
        scale.setFloat(0, norm > maxNorm && norm > 0 ? (float) (maxNorm / (norm + 1e-6)) : 1f);
    }

    @Override
    public void adamw(Tensor param, Tensor grad, Tensor gradScale, Tensor m, Tensor v, float lr, float weightDecay, long step) {
        if (gradScale != null) backend.scale(gradScale.getFloat(0), grad);
        backend.adamwStep(param, grad, m, v, lr, 0.9f, 0.999f, 1e-8f, weightDecay, step);
    }

    @Override
    public void runRecorded(Object key, Runnable work) {
        work.run(); // the host has nothing to record
    }

    @Override
    public void free(Tensor t) {
        // host tensors live in this ops' arena, freed by close
    }

    @Override
    public void close() {
        arena.close();
    }
}
