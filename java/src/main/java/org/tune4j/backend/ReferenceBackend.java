package org.tune4j.backend;

import org.tune4j.tensor.Tensor;

/**
 * Plain scalar Java, written to be obviously right rather than fast: the oracle every other backend is
 * tested against. Sums are accumulated in double.
 */
public final class ReferenceBackend implements Backend {
    @Override
    public String name() {
        return "reference";
    }

    @Override
    public void gemm(boolean transA, boolean transB, float alpha, Tensor a, Tensor b, float beta, Tensor c) {
        BackendChecks.gemm(transA, transB, alpha, a, b, beta, c);
        long m = c.dim(0), n = c.dim(1), k = transA ? a.dim(0) : a.dim(1);
        for (long i = 0; i < m; i++) {
            for (long j = 0; j < n; j++) {
                double sum = 0;
                for (long p = 0; p < k; p++) {
                    float av = transA ? a.getFloat(p, i) : a.getFloat(i, p);
                    float bv = transB ? b.getFloat(j, p) : b.getFloat(p, j);
                    sum += (double) av * bv;
                }
                double old = beta == 0f ? 0 : (double) beta * c.getFloat(i, j);
                c.setFloat(i, j, (float) (alpha * sum + old));
            }
        }
    }

    /** x̃[i][p] = x[i][p]·mask[i][p], or x[i][p] without a mask. */
    private static float dropped(Tensor x, Tensor mask, long i, long p) {
        return mask == null ? x.getFloat(i, p) : x.getFloat(i, p) * mask.getFloat(i, p);
    }

    @Override
    public void loraForward(Tensor x, Tensor mask, Tensor w, Tensor bias, Tensor a, Tensor b, float scale, Tensor h, Tensor y) {
        var d = BackendChecks.loraForward(x, mask, w, bias, a, b, scale, h, y);
        for (long i = 0; i < d.t(); i++) {
            // h[i] = x̃[i] Aᵀ
            for (long q = 0; q < d.r(); q++) {
                double sum = 0;
                for (long p = 0; p < d.dIn(); p++) sum += (double) dropped(x, mask, i, p) * a.getFloat(q, p);
                h.setFloat(i, q, (float) sum);
            }
            // y[i] = x[i] Wᵀ + bias + s·h[i] Bᵀ
            for (long o = 0; o < d.dOut(); o++) {
                double base = 0;
                for (long p = 0; p < d.dIn(); p++) base += (double) x.getFloat(i, p) * w.getFloat(o, p);
                double low = 0;
                for (long q = 0; q < d.r(); q++) low += (double) h.getFloat(i, q) * b.getFloat(o, q);
                y.setFloat(i, o, (float) (base + (bias == null ? 0 : bias.getFloat(o)) + scale * low));
            }
        }
    }

    @Override
    public void loraBackward(Tensor x, Tensor mask, Tensor w, Tensor a, Tensor b, float scale, Tensor h, Tensor g, Tensor dx, Tensor da, Tensor db) {
        var d = BackendChecks.loraBackward(x, mask, w, a, b, scale, h, g, dx, da, db);
        // gb = g B  [t, r]
        double[][] gb = new double[(int) d.t()][(int) d.r()];
        for (int i = 0; i < d.t(); i++)
            for (int q = 0; q < d.r(); q++) {
                double sum = 0;
                for (long o = 0; o < d.dOut(); o++) sum += (double) g.getFloat(i, o) * b.getFloat(o, q);
                gb[i][q] = sum;
            }
        // db += s gᵀ h
        for (long o = 0; o < d.dOut(); o++)
            for (long q = 0; q < d.r(); q++) {
                double sum = 0;
                for (long i = 0; i < d.t(); i++) sum += (double) g.getFloat(i, o) * h.getFloat(i, q);
                db.setFloat(o, q, (float) (db.getFloat(o, q) + scale * sum));
            }
        // da += s gbᵀ x̃
        for (int q = 0; q < d.r(); q++)
            for (long p = 0; p < d.dIn(); p++) {
                double sum = 0;
                for (int i = 0; i < d.t(); i++) sum += gb[i][q] * dropped(x, mask, i, p);
                da.setFloat(q, p, (float) (da.getFloat(q, p) + scale * sum));
            }
        if (dx == null) return;
        // dx += g W + mask ⊙ (s gb A)
        for (int i = 0; i < d.t(); i++)
            for (long p = 0; p < d.dIn(); p++) {
                double base = 0;
                for (long o = 0; o < d.dOut(); o++) base += (double) g.getFloat(i, o) * w.getFloat(o, p);
                double low = 0;
                for (int q = 0; q < d.r(); q++) low += gb[i][q] * a.getFloat(q, p);
                double m = mask == null ? 1 : mask.getFloat(i, p);
                dx.setFloat(i, p, (float) (dx.getFloat(i, p) + base + m * scale * low));
            }
    }

    @Override
    public void loraMerge(Tensor w, Tensor a, Tensor b, float scale, float sign) {
        var d = BackendChecks.loraMerge(w, a, b, scale, sign);
        for (long o = 0; o < d.dOut(); o++)
            for (long p = 0; p < d.dIn(); p++) {
                double sum = 0;
                for (long q = 0; q < d.r(); q++) sum += (double) b.getFloat(o, q) * a.getFloat(q, p);
                w.setFloat(o, p, (float) (w.getFloat(o, p) + sign * scale * sum));
            }
    }

    // ---- int8 ----

    @Override
    public void quantizeRows(Tensor x, Tensor q, Tensor scales) {
        long m = BackendChecks.quantizeRows(x, q, scales);
        long k = x.dim(1);
        for (long i = 0; i < m; i++) {
            float absmax = 0f;
            for (long p = 0; p < k; p++) absmax = Math.max(absmax, Math.abs(x.getFloat(i, p)));
            float scale = absmax / 127f;
            scales.setFloat(i, scale);
            for (long p = 0; p < k; p++) q.setByte(i * k + p, (byte) quantize(x.getFloat(i, p), scale));
        }
    }

    /** round-half-to-even(v / scale), clamped to [-127, 127]; 0 when the scale is 0. */
    static int quantize(float v, float scale) {
        if (scale == 0f) return 0;
        return (int) Math.max(-127, Math.min(127, Math.rint(v / scale)));
    }

    @Override
    public void dequantizeRows(Tensor q, Tensor scales, Tensor x) {
        long m = BackendChecks.quantizeRows(x, q, scales);
        long k = x.dim(1);
        for (long i = 0; i < m; i++)
            for (long p = 0; p < k; p++) x.setFloat(i, p, q.getByte(i * k + p) * scales.getFloat(i));
    }

    @Override
    public void int8Linear(Tensor x, Int8Weights w, Tensor bias, Activation act, Tensor y) {
        BackendChecks.int8Linear(x, w, bias, act, y);
        long m = x.dim(0), n = w.rows(), k = w.cols();
        Tensor wq = w.values(), ws = w.scales();
        int[] xq = new int[(int) k];
        for (long i = 0; i < m; i++) {
            float absmax = 0f;
            for (long p = 0; p < k; p++) absmax = Math.max(absmax, Math.abs(x.getFloat(i, p)));
            float sx = absmax / 127f;
            for (int p = 0; p < k; p++) xq[p] = quantize(x.getFloat(i, p), sx);
            for (long j = 0; j < n; j++) {
                long acc = 0;
                for (int p = 0; p < k; p++) acc += (long) xq[p] * wq.getByte(j * k + p);
                float v = (float) acc * (sx * ws.getFloat(j)) + (bias == null ? 0f : bias.getFloat(j));
                y.setFloat(i, j, act.apply(v));
            }
        }
    }

    @Override
    public void int8WeightOnlyLinear(Tensor x, Int8Weights w, Tensor bias, Activation act, Tensor y) {
        BackendChecks.int8Linear(x, w, bias, act, y);
        long m = x.dim(0), n = w.rows(), k = w.cols();
        for (long i = 0; i < m; i++)
            for (long j = 0; j < n; j++) {
                double sum = 0;
                for (long p = 0; p < k; p++) sum += (double) x.getFloat(i, p) * w.values().getByte(j * k + p);
                float v = (float) (sum * w.scales().getFloat(j)) + (bias == null ? 0f : bias.getFloat(j));
                y.setFloat(i, j, act.apply(v));
            }
    }

    @Override
    public void int8Gemm(Tensor a, Int8Weights w, Tensor c) {
        BackendChecks.int8Gemm(a, w, c);
        long m = a.dim(0), n = w.rows(), k = w.cols();
        for (long i = 0; i < m; i++)
            for (long j = 0; j < n; j++) {
                long acc = 0;
                for (long p = 0; p < k; p++) acc += (long) a.getByte(i * k + p) * w.values().getByte(j * k + p);
                c.setInt(i * n + j, Math.toIntExact(acc));
            }
    }
}
