package org.tune4j.backend;

import org.tune4j.tensor.Tensor;

/**
 * Plain scalar Java, written to be obviously right rather than fast: the oracle every other backend is
 * tested against. Sums are accumulated in double. The LoRA ops are in {@link ReferenceLoraOps},
 * the sequence ops in {@link ReferenceSequenceOps}, the int8 and sparse ops in {@link ReferenceCompressedOps}.
 */
public final class ReferenceBackend extends ReferenceLoraOps {
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
                // as BLAS: alpha 0 reads neither a nor b, beta 0 does not read c (a NaN there does not count)
                double product = alpha == 0f ? 0 : alpha * sum, old = beta == 0f ? 0 : (double) beta * c.getFloat(i, j);
                c.setFloat(i, j, (float) (product + old));
            }
        }
    }

    // ---- training-step ops ----

    @Override
    public void add(Tensor a, Tensor b, Tensor y) {
        BackendChecks.add(a, b, y);
        for (long i = 0; i < a.numel(); i++) y.setFloat(i, a.getFloat(i) + b.getFloat(i));
    }

    @Override
    public void axpy(float alpha, Tensor x, Tensor y) {
        BackendChecks.axpy(alpha, x, y);
        for (long i = 0; i < x.numel(); i++) y.setFloat(i, y.getFloat(i) + alpha * x.getFloat(i));
    }

    @Override
    public void scale(float alpha, Tensor y) {
        BackendChecks.scale(alpha, y);
        for (long i = 0; i < y.numel(); i++) y.setFloat(i, alpha * y.getFloat(i));
    }

    @Override
    public void mulRow(Tensor row, Tensor y) {
        BackendChecks.rowVector(row, y);
        for (long i = 0; i < y.dim(0); i++)
            for (long j = 0; j < y.dim(1); j++) y.setFloat(i, j, y.getFloat(i, j) * row.getFloat(j));
    }

    @Override
    public void reluForward(Tensor x, Tensor y) {
        BackendChecks.elementwise(x, y);
        for (long i = 0; i < x.numel(); i++) y.setFloat(i, Math.max(0f, x.getFloat(i)));
    }

    @Override
    public void reluBackward(Tensor x, Tensor dy, Tensor dx) {
        BackendChecks.elementwiseBackward(x, dy, dx);
        for (long i = 0; i < x.numel(); i++) if (x.getFloat(i) > 0f) dx.setFloat(i, dx.getFloat(i) + dy.getFloat(i));
    }

    @Override
    public void logSoftmaxForward(Tensor x, Tensor y) {
        BackendChecks.rowwise(x, y);
        long n = x.dim(1);
        for (long i = 0; i < x.dim(0); i++) {
            double lse = logSumExp(x, i);
            for (long j = 0; j < n; j++) y.setFloat(i * n + j, (float) (x.getFloat(i, j) - lse));
        }
    }

    /** log Σ_j exp(x[i, j]), with the row's maximum taken out first so that no exp overflows. */
    private static double logSumExp(Tensor x, long i) {
        double mx = Double.NEGATIVE_INFINITY, sum = 0;
        for (long j = 0; j < x.dim(1); j++) mx = Math.max(mx, x.getFloat(i, j));
        for (long j = 0; j < x.dim(1); j++) sum += Math.exp(x.getFloat(i, j) - mx);
        return mx + Math.log(sum);
    }

    @Override
    public void logSoftmaxBackward(Tensor y, Tensor dy, Tensor dx) {
        BackendChecks.rowwiseBackward(y, dy, dx);
        long n = y.dim(1);
        for (long i = 0; i < y.dim(0); i++) {
            double sum = 0;
            for (long j = 0; j < n; j++) sum += dy.getFloat(i * n + j);
            for (long j = 0; j < n; j++) {
                long e = i * n + j;
                dx.setFloat(e, (float) (dx.getFloat(e) + dy.getFloat(e) - Math.exp(y.getFloat(e)) * sum));
            }
        }
    }

    @Override
    public void addRow(Tensor row, Tensor y) {
        BackendChecks.rowVector(row, y);
        for (long i = 0; i < y.dim(0); i++)
            for (long j = 0; j < y.dim(1); j++) y.setFloat(i, j, y.getFloat(i, j) + row.getFloat(j));
    }

    @Override
    public void lowRankAdd(Tensor h, Tensor bt, float scale, Tensor y) {
        BackendChecks.lowRankAdd(h, bt, scale, y);
        long r = h.dim(1);
        for (long i = 0; i < y.dim(0); i++)
            for (long j = 0; j < y.dim(1); j++) {
                double sum = 0;
                for (long t = 0; t < r; t++) sum += (double) h.getFloat(i, t) * bt.getFloat(t, j);
                y.setFloat(i, j, (float) (y.getFloat(i, j) + scale * sum));
            }
    }

    @Override
    public void sumRows(Tensor x, Tensor out) {
        BackendChecks.sumRows(x, out);
        for (long j = 0; j < x.dim(1); j++) {
            double s = 0;
            for (long i = 0; i < x.dim(0); i++) s += x.getFloat(i, j);
            out.setFloat(j, (float) (out.getFloat(j) + s));
        }
    }

    @Override
    public void sumRowsProduct(Tensor a, Tensor b, Tensor out) {
        BackendChecks.sumRowsProduct(a, b, out);
        for (long j = 0; j < a.dim(1); j++) {
            double s = 0;
            for (long i = 0; i < a.dim(0); i++) s += (double) a.getFloat(i, j) * b.getFloat(i, j);
            out.setFloat(j, (float) (out.getFloat(j) + s));
        }
    }

    @Override
    public void rowSquares(Tensor x, Tensor out) {
        BackendChecks.rowSquares(x, out);
        for (long i = 0; i < x.dim(0); i++) {
            double s = 0;
            for (long j = 0; j < x.dim(1); j++) s += (double) x.getFloat(i, j) * x.getFloat(i, j);
            out.setFloat(i, (float) s);
        }
    }

    @Override
    public double sumSquares(Tensor x) {
        BackendChecks.sumSquares(x);
        double s = 0;
        for (long i = 0; i < x.numel(); i++) s += (double) x.getFloat(i) * x.getFloat(i);
        return s;
    }

    static double gelu(double x, boolean exact) {
        if (exact) return 0.5 * x * (1 + erf(x / Math.sqrt(2)));
        double c = Math.sqrt(2 / Math.PI);
        return 0.5 * x * (1 + Math.tanh(c * (x + 0.044715 * x * x * x)));
    }

    static double geluGrad(double x, boolean exact) {
        if (exact) {
            double phi = Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
            // left of -5, 1 + erf cancels in double too (Φ(-8) is 6e-16): there Φ(x) = φ(x)·M(-x), Mills' ratio
            double g = x < -5 ? phi * (millsRatio(-x) + x) : 0.5 * (1 + erf(x / Math.sqrt(2))) + x * phi;
            // left of about -38 the slope, negative for every finite x, is below double's range: keep its sign, so
            // that an infinite dy gives -inf as in float kernels (0 would give NaN)
            return g == 0 && x < 0 && Double.isFinite(x) ? -Double.MIN_VALUE : g;
        }
        double c = Math.sqrt(2 / Math.PI), t = Math.tanh(c * (x + 0.044715 * x * x * x));
        return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * 0.044715 * x * x);
    }

    /**
     * Mills' ratio M(t) = (1 - Φ(t)) / φ(t) for t >= 5 by Laplace's continued fraction 1/(t + 1/(t + 2/(t + 3/(t + ...)))),
     * 60 levels, evaluated from the bottom: relative error under 1e-15 there.
     */
    static double millsRatio(double t) {
        double f = t;
        for (int k = 60; k >= 1; k--) f = t + k / f;
        return 1 / f;
    }

    /** erf by Abramowitz-Stegun 7.1.26 refined with a Taylor/continued-fraction split: accurate to ~1e-12. */
    static double erf(double x) {
        double ax = Math.abs(x), r;
        if (ax < 2.5) {
            // Maclaurin series: erf x = 2/sqrt(pi) sum (-1)^n x^(2n+1) / (n! (2n+1))
            double term = ax, sum = ax, x2 = ax * ax;
            for (int n = 1; n < 80; n++) {
                term *= -x2 / n;
                double add = term / (2 * n + 1);
                sum += add;
                if (Math.abs(add) < 1e-17) break;
            }
            r = 2 / Math.sqrt(Math.PI) * sum;
        } else {
            // continued fraction for erfc
            double t = 0;
            for (int n = 60; n >= 1; n--) t = n / 2.0 / (ax + t);
            r = 1 - Math.exp(-ax * ax) / Math.sqrt(Math.PI) / (ax + t);
        }
        return x < 0 ? -r : r;
    }

    @Override
    public void geluForward(Tensor x, Tensor y, boolean exact) {
        BackendChecks.elementwise(x, y);
        for (long i = 0; i < x.numel(); i++) y.setFloat(i, (float) gelu(x.getFloat(i), exact));
    }

    @Override
    public void geluBackward(Tensor x, Tensor dy, Tensor dx, boolean exact) {
        BackendChecks.elementwiseBackward(x, dy, dx);
        for (long i = 0; i < x.numel(); i++) dx.setFloat(i, (float) (dx.getFloat(i) + geluGrad(x.getFloat(i), exact) * dy.getFloat(i)));
    }

    @Override
    public void softmaxForward(Tensor x, Tensor y) {
        BackendChecks.rowwise(x, y);
        long n = x.dim(1);
        for (long i = 0; i < x.dim(0); i++) {
            double lse = logSumExp(x, i);
            for (long j = 0; j < n; j++) y.setFloat(i * n + j, (float) Math.exp(x.getFloat(i, j) - lse));
        }
    }

    @Override
    public void softmaxBackward(Tensor y, Tensor dy, Tensor dx) {
        BackendChecks.rowwiseBackward(y, dy, dx);
        long n = y.dim(1);
        for (long i = 0; i < y.dim(0); i++) {
            double dot = 0;
            for (long j = 0; j < n; j++) dot += (double) y.getFloat(i * n + j) * dy.getFloat(i * n + j);
            for (long j = 0; j < n; j++) {
                long e = i * n + j;
                dx.setFloat(e, (float) (dx.getFloat(e) + y.getFloat(e) * (dy.getFloat(e) - dot)));
            }
        }
    }

    @Override
    public void layerNormForward(Tensor x, Tensor gamma, Tensor beta, float eps, Tensor y, Tensor mean, Tensor rstd) {
        BackendChecks.layerNormForward(x, gamma, beta, eps, y, mean, rstd);
        long m = x.dim(0), n = x.dim(1);
        for (long i = 0; i < m; i++) {
            double mu = 0, var = 0;
            for (long j = 0; j < n; j++) mu += x.getFloat(i, j);
            mu /= n;
            for (long j = 0; j < n; j++) var += Math.pow(x.getFloat(i, j) - mu, 2);
            var /= n;
            double r = 1 / Math.sqrt(var + eps);
            for (long j = 0; j < n; j++) y.setFloat(i * n + j, (float) ((x.getFloat(i, j) - mu) * r * gamma.getFloat(j) + beta.getFloat(j)));
            mean.setFloat(i, (float) mu);
            rstd.setFloat(i, (float) r);
        }
    }

    @Override
    public void layerNormBackward(Tensor x, Tensor gamma, Tensor mean, Tensor rstd, Tensor dy, Tensor dx, Tensor dgamma, Tensor dbeta) {
        BackendChecks.layerNormBackward(x, gamma, mean, rstd, dy, dx, dgamma, dbeta);
        long m = x.dim(0), n = x.dim(1);
        for (long i = 0; i < m; i++) {
            double mu = mean.getFloat(i), r = rstd.getFloat(i), s1 = 0, s2 = 0;
            for (long j = 0; j < n; j++) {
                double g = dy.getFloat(i * n + j) * gamma.getFloat(j), xhat = (x.getFloat(i, j) - mu) * r;
                s1 += g;
                s2 += g * xhat;
            }
            s1 /= n;
            s2 /= n;
            for (long j = 0; j < n; j++) {
                long e = i * n + j;
                double xhat = (x.getFloat(i, j) - mu) * r;
                if (dx != null) dx.setFloat(e, (float) (dx.getFloat(e) + r * (dy.getFloat(e) * gamma.getFloat(j) - s1 - xhat * s2)));
                if (dgamma != null) dgamma.setFloat(j, (float) (dgamma.getFloat(j) + dy.getFloat(e) * xhat));
                if (dbeta != null) dbeta.setFloat(j, dbeta.getFloat(j) + dy.getFloat(e));
            }
        }
    }

    @Override
    public float crossEntropyForward(Tensor logits, Tensor labels, float smoothing, Tensor probs) {
        BackendChecks.crossEntropyForward(logits, labels, smoothing, probs);
        long m = logits.dim(0), n = logits.dim(1);
        softmaxForward(logits, probs);
        double total = 0;
        for (long i = 0; i < m; i++) {
            int c = labels.getInt(i);
            total -= (1 - smoothing) * Math.log(Math.max(probs.getFloat(i * n + c), 1e-30));
            for (long j = 0; j < n && smoothing > 0; j++) total -= smoothing / n * Math.log(Math.max(probs.getFloat(i * n + j), 1e-30));
        }
        return (float) (total / Math.max(m, 1));
    }

    @Override
    public void crossEntropyBackward(Tensor probs, Tensor labels, float smoothing, float dloss, Tensor dlogits) {
        BackendChecks.crossEntropyBackward(probs, labels, smoothing, dloss, dlogits);
        long m = probs.dim(0), n = probs.dim(1);
        for (long i = 0; i < m; i++)
            for (long j = 0; j < n; j++) {
                double target = (j == labels.getInt(i) ? 1 - smoothing : 0) + smoothing / n;
                long e = i * n + j;
                dlogits.setFloat(e, (float) (dlogits.getFloat(e) + dloss / m * (probs.getFloat(e) - target)));
            }
    }

    @Override
    public void adamwStep(Tensor param, Tensor grad, Tensor m, Tensor v, float lr, float beta1, float beta2, float eps, float weightDecay, long step) {
        long n = BackendChecks.adamwStep(param, grad, m, v, lr, beta1, beta2, eps, weightDecay, step);
        float bc1 = (float) (1 - Math.pow(beta1, step)), bc2 = (float) (1 - Math.pow(beta2, step));
        for (long i = 0; i < n; i++) {
            float p = param.getFloat(i) - lr * weightDecay * param.getFloat(i), g = grad.getFloat(i);
            float mi = beta1 * m.getFloat(i) + (1 - beta1) * g, vi = beta2 * v.getFloat(i) + (1 - beta2) * g * g;
            m.setFloat(i, mi);
            v.setFloat(i, vi);
            param.setFloat(i, p - lr * (mi / bc1) / ((float) Math.sqrt(vi / bc2) + eps));
        }
    }

    @Override
    public void sgdStep(Tensor param, Tensor grad, Tensor buf, float lr, float momentum, float dampening, float weightDecay, boolean nesterov, boolean firstStep) {
        long n = BackendChecks.sgdStep(param, grad, buf, lr, momentum, dampening, weightDecay);
        for (long i = 0; i < n; i++) {
            float d = grad.getFloat(i) + weightDecay * param.getFloat(i);
            float b = firstStep ? d : momentum * buf.getFloat(i) + (1 - dampening) * d;
            buf.setFloat(i, b);
            param.setFloat(i, param.getFloat(i) - lr * (nesterov ? d + momentum * b : b));
        }
    }
}
