package org.tune4j.backend;

import org.tune4j.tensor.Tensor;

/**
 * The reference's int8 and sparse ops (one file of {@link ReferenceBackend}, which extends this): plain
 * scalar Java over the plain values the weight forms keep, never over the native packings.
 */
abstract class ReferenceCompressedOps implements Backend {
    // ---- int8 ----

    @Override
    public void quantizeRows(Tensor x, Tensor q, Tensor scales) {
        long m = CompressedChecks.quantizeRows(x, q, scales);
        long k = x.dim(1);
        for (long i = 0; i < m; i++) {
            float absmax = 0f;
            for (long p = 0; p < k; p++) absmax = Math.max(absmax, Math.abs(x.getFloat(i, p)));
            float scale = rowScale(absmax);
            scales.setFloat(i, scale);
            for (long p = 0; p < k; p++) q.setByte(i * k + p, (byte) quantize(x.getFloat(i, p), scale));
        }
    }

    /** round-half-to-even(v / scale), clamped to [-127, 127]; 0 when the scale is 0. */
    /** absmax / 127; NaN for a row holding a NaN or an infinity (every level does the same: the row's outputs are NaN). */
    static float rowScale(float absmax) {
        return Float.isFinite(absmax) ? absmax / 127f : Float.NaN;
    }

    static int quantize(float v, float scale) {
        if (!(scale > 0f)) return 0; // 0, or NaN for a non-finite row
        return (int) Math.max(-127, Math.min(127, Math.rint(v / scale)));
    }

    @Override
    public void dequantizeRows(Tensor q, Tensor scales, Tensor x) {
        long m = CompressedChecks.dequantizeRows(q, scales, x);
        long k = x.dim(1);
        for (long i = 0; i < m; i++)
            for (long p = 0; p < k; p++) x.setFloat(i, p, q.getByte(i * k + p) * scales.getFloat(i));
    }

    @Override
    public void int8Linear(Tensor x, Int8Weights w, Tensor bias, Activation act, Tensor y) {
        CompressedChecks.int8Linear(x, w, bias, act, y);
        long m = x.dim(0), n = w.rows(), k = w.cols();
        Tensor wq = w.values(), ws = w.scales();
        int[] xq = new int[(int) k];
        for (long i = 0; i < m; i++) {
            float absmax = 0f;
            for (long p = 0; p < k; p++) absmax = Math.max(absmax, Math.abs(x.getFloat(i, p)));
            float sx = rowScale(absmax);
            for (int p = 0; p < k; p++) xq[p] = quantize(x.getFloat(i, p), sx);
            for (long j = 0; j < n; j++) {
                long acc = 0;
                for (int p = 0; p < k; p++) acc += (long) xq[p] * wq.getByte(j * k + p);
                float v = (float) acc * (sx * ws.getFloat(j)) + (bias == null ? 0f : bias.getFloat(j));
                y.setFloat(i, j, act.apply(v));
            }
        }
    }

    /** The layers one at a time: each row's quantization is its own, so sharing it changes no value. */
    @Override
    public void int8LinearShared(Tensor x, Int8Weights[] w, Tensor[] bias, Activation act, Tensor[] y) {
        CompressedChecks.int8LinearShared(x, w, bias, act, y);
        for (int l = 0; l < w.length; l++) int8Linear(x, w[l], bias[l], act, y[l]);
    }

    @Override
    public void int8WeightOnlyLinear(Tensor x, Int8Weights w, Tensor bias, Activation act, Tensor y) {
        CompressedChecks.int8WeightOnlyLinear(x, w, bias, act, y);
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
        CompressedChecks.int8Gemm(a, w, c);
        long m = a.dim(0), n = w.rows(), k = w.cols();
        for (long i = 0; i < m; i++)
            for (long j = 0; j < n; j++) {
                long acc = 0;
                for (long p = 0; p < k; p++) acc += (long) a.getByte(i * k + p) * w.values().getByte(j * k + p);
                c.setInt(i * n + j, Math.toIntExact(acc));
            }
    }

    /** The dequantized base as an f32 matrix, for the int8 LoRA reference. */
    private static Tensor dequantized(java.lang.foreign.Arena arena, Int8Weights w) {
        Tensor out = Tensor.zeros(arena, org.tune4j.tensor.DType.F32, w.rows(), w.cols());
        for (long j = 0; j < w.rows(); j++)
            for (long p = 0; p < w.cols(); p++) out.setFloat(j, p, w.values().getByte(j * w.cols() + p) * w.scales().getFloat(j));
        return out;
    }

    @Override
    public void loraInt8Forward(Tensor x, Tensor mask, Int8Weights w, Tensor bias, Tensor a, Tensor b, float scale, Tensor h, Tensor y) {
        var d = LoraChecks.loraInt8Forward(x, mask, w, bias, a, b, scale, h, y);
        // y = int8 base (+ bias), then the f32 adapter through the f32 reference with a zero base
        int8Linear(x, w, bias, Activation.NONE, y);
        try (java.lang.foreign.Arena scratch = java.lang.foreign.Arena.ofConfined()) {
            Tensor zeroW = Tensor.zeros(scratch, org.tune4j.tensor.DType.F32, d.dOut(), d.dIn());
            Tensor low = Tensor.zeros(scratch, org.tune4j.tensor.DType.F32, d.t(), d.dOut());
            loraForward(x, mask, zeroW, null, a, b, scale, h, low);
            for (long i = 0; i < y.numel(); i++) y.setFloat(i, y.getFloat(i) + low.getFloat(i));
        }
    }

    @Override
    public void loraInt8Backward(Tensor x, Tensor mask, Int8Weights w, Tensor a, Tensor b, float scale, Tensor h, Tensor g, Tensor dx, Tensor da, Tensor db) {
        LoraChecks.loraInt8Backward(x, mask, w, a, b, scale, h, g, dx, da, db);
        try (java.lang.foreign.Arena scratch = java.lang.foreign.Arena.ofConfined()) {
            loraBackward(x, mask, dequantized(scratch, w), a, b, scale, h, g, dx, da, db);
        }
    }

    // ---- sparse ----

    @Override
    public float magnitudeThreshold(Tensor w, long count) {
        CompressedChecks.magnitudeThreshold(w, count);
        if (count == 0) return -1f;
        float[] abs = w.toFloatArray();
        for (int i = 0; i < abs.length; i++) abs[i] = Math.abs(abs[i]);
        java.util.Arrays.sort(abs);
        return abs[(int) Math.min(count, abs.length) - 1];
    }

    @Override
    public void magnitudeMask(Tensor w, float threshold, Tensor mask) {
        CompressedChecks.magnitudeMask(w, threshold, mask);
        for (long i = 0; i < w.numel(); i++) mask.setByte(i, (byte) (Math.abs(w.getFloat(i)) > threshold ? 1 : 0));
    }

    @Override
    public void mask2to4(Tensor w, Tensor mask) {
        CompressedChecks.mask2to4(w, mask);
        long k = w.dim(1);
        for (long base = 0; base < w.numel(); base += 4) {
            int[] keep = keepTwo(w, base);
            for (int t = 0; t < 4; t++) mask.setByte(base + t, (byte) (t == keep[0] || t == keep[1] ? 1 : 0));
        }
    }

    /** Positions of the two largest |w| in the group of 4 at element base, ties to the lower; ascending. */
    static int[] keepTwo(Tensor w, long base) {
        int best = 0;
        for (int t = 1; t < 4; t++) if (Math.abs(w.getFloat(base + t)) > Math.abs(w.getFloat(base + best))) best = t;
        int next = -1;
        for (int t = 0; t < 4; t++) {
            if (t != best && (next < 0 || Math.abs(w.getFloat(base + t)) > Math.abs(w.getFloat(base + next)))) next = t;
        }
        return new int[] {Math.min(best, next), Math.max(best, next)};
    }

    @Override
    public void applyMask(Tensor w, Tensor mask) {
        CompressedChecks.applyMask(w, mask);
        for (long i = 0; i < w.numel(); i++) if (mask.getByte(i) == 0) w.setFloat(i, 0f);
    }

    @Override
    public void csrLinear(Tensor x, CsrWeights w, Tensor bias, Activation act, Tensor y) {
        CompressedChecks.csrLinear(x, w, bias, act, y);
        for (long i = 0; i < x.dim(0); i++)
            for (long j = 0; j < w.rows(); j++) {
                double sum = 0;
                for (long e = w.rowStart(j); e < w.rowStart(j + 1); e++) sum += (double) w.values().getFloat(e) * x.getFloat(i, w.col(e));
                y.setFloat(i, j, act.apply((float) sum + (bias == null ? 0f : bias.getFloat(j))));
            }
    }

    @Override
    public void csrBackwardInput(Tensor g, CsrWeights w, Tensor dx) {
        CompressedChecks.csrBackwardInput(g, w, dx);
        for (long i = 0; i < g.dim(0); i++)
            for (long j = 0; j < w.rows(); j++)
                for (long e = w.rowStart(j); e < w.rowStart(j + 1); e++) {
                    long c = w.col(e);
                    dx.setFloat(i, c, dx.getFloat(i, c) + g.getFloat(i, j) * w.values().getFloat(e));
                }
    }

    @Override
    public void csrGradValues(Tensor g, Tensor x, CsrWeights w, Tensor dvalues) {
        CompressedChecks.csrGradValues(g, x, w, dvalues);
        for (long j = 0; j < w.rows(); j++)
            for (long e = w.rowStart(j); e < w.rowStart(j + 1); e++) {
                double sum = 0;
                for (long i = 0; i < g.dim(0); i++) sum += (double) g.getFloat(i, j) * x.getFloat(i, w.col(e));
                dvalues.setFloat(e, dvalues.getFloat(e) + (float) sum);
            }
    }

    @Override
    public void sparse24Linear(Tensor x, Sparse24Weights w, Tensor bias, Activation act, Tensor y) {
        CompressedChecks.sparse24Linear(x, w, bias, act, y);
        long groups = w.cols() / 4;
        for (long i = 0; i < x.dim(0); i++)
            for (long j = 0; j < w.rows(); j++) {
                double sum = 0;
                for (long g = 0; g < groups; g++)
                    for (int t = 0; t < 2; t++) sum += (double) w.value(j, g, t) * x.getFloat(i, 4 * g + w.position(j, g, t));
                y.setFloat(i, j, act.apply((float) sum + (bias == null ? 0f : bias.getFloat(j))));
            }
    }
}
