package org.tune4j.backend.cuda;

import java.util.Map;
import org.tune4j.backend.Activation;
import org.tune4j.backend.Backend;
import org.tune4j.backend.CpuBackend;
import org.tune4j.backend.CsrWeights;
import org.tune4j.backend.Int8Weights;
import org.tune4j.backend.LoraAdapters;
import org.tune4j.backend.Sparse24Weights;
import org.tune4j.tensor.Tensor;

/**
 * Every {@link Backend} op run by the CPU backend on host copies of its tensors, counted by op name: the explicit
 * fallback of ARCHITECTURE.md ("One engine"), written once. A device backend extends it and overrides the ops it
 * has kernels for, calling {@code super} where a call does not fit its kernels (a layout, a host-only weight).
 * The count is what a test or a benchmark asserts on: a training step that falls back zero times.
 */
abstract class HostFallbackBackend implements Backend {
    private final HostFallback.Counts counts;

    HostFallbackBackend(HostFallback.Counts counts) {
        this.counts = counts;
    }

    HostFallback.Counts counts() {
        return counts;
    }

    /** Ops run on the CPU for want of a kernel (or of tensors in this backend's memory), by name, since it was opened. */
    public Map<String, Long> fallbacks() {
        return counts.snapshot();
    }

    public void resetFallbacks() {
        counts.reset();
    }

    /** Checks that the backend may still run; a closed one throws. */
    abstract void ensureOpen();

    @Override
    public Backend host() {
        return cpu();
    }

    /** The CPU backend, asked for at each fallback: a bad T4J_SIMD is then that call's exception, not a failed class. */
    private static CpuBackend cpu() {
        return CpuBackend.get();
    }

    private HostFallback fallback(String op) {
        ensureOpen();
        return new HostFallback(counts, op);
    }

    @Override
    public void gemm(boolean transA, boolean transB, float alpha, Tensor a, Tensor b, float beta, Tensor c) {
        try (HostFallback f = fallback("gemm")) {
            cpu().gemm(transA, transB, alpha, f.in(a), f.in(b), beta, f.out(c));
        }
    }

    @Override
    public void loraForward(Tensor x, Tensor mask, Tensor w, Tensor bias, Tensor a, Tensor b, float scale, Tensor h, Tensor y) {
        try (HostFallback f = fallback("loraForward")) {
            cpu().loraForward(f.in(x), f.in(mask), f.in(w), f.in(bias), f.in(a), f.in(b), scale, f.out(h), f.out(y));
        }
    }

    @Override
    public void loraBackward(Tensor x, Tensor mask, Tensor w, Tensor a, Tensor b, float scale, Tensor h, Tensor g, Tensor dx, Tensor da, Tensor db) {
        try (HostFallback f = fallback("loraBackward")) {
            cpu().loraBackward(f.in(x), f.in(mask), f.in(w), f.in(a), f.in(b), scale, f.in(h), f.in(g), f.out(dx), f.out(da), f.out(db));
        }
    }

    @Override
    public void lowRankAdd(Tensor h, Tensor bt, float scale, Tensor y) {
        try (HostFallback f = fallback("lowRankAdd")) {
            cpu().lowRankAdd(f.in(h), f.in(bt), scale, f.out(y));
        }
    }

    @Override
    public void loraMerge(Tensor w, Tensor a, Tensor b, float scale, float sign) {
        try (HostFallback f = fallback("loraMerge")) {
            cpu().loraMerge(f.out(w), f.in(a), f.in(b), scale, sign);
        }
    }

    @Override
    public void loraShrinkSegments(Tensor x, Tensor segStart, Tensor segAdapter, LoraAdapters adapters, Tensor h) {
        try (HostFallback f = fallback("loraShrinkSegments")) {
            cpu().loraShrinkSegments(f.in(x), f.in(segStart), f.in(segAdapter), adapters == null ? null : adapters.map(f::in), f.out(h));
        }
    }

    @Override
    public void loraExpandSegments(Tensor h, Tensor segStart, Tensor segAdapter, LoraAdapters adapters, Tensor y) {
        try (HostFallback f = fallback("loraExpandSegments")) {
            cpu().loraExpandSegments(f.in(h), f.in(segStart), f.in(segAdapter), adapters == null ? null : adapters.map(f::in), f.out(y));
        }
    }

    @Override
    public void loraMixedForward(Tensor x, Tensor w, Tensor bias, Tensor segStart, Tensor segAdapter, LoraAdapters adapters, Tensor h, Tensor y) {
        try (HostFallback f = fallback("loraMixedForward")) {
            cpu().loraMixedForward(f.in(x), f.in(w), f.in(bias), f.in(segStart), f.in(segAdapter), adapters == null ? null : adapters.map(f::in), f.out(h), f.out(y));
        }
    }

    @Override
    public void loraShrinkRows(Tensor x, Tensor rowAdapter, LoraAdapters adapters, Tensor h) {
        try (HostFallback f = fallback("loraShrinkRows")) {
            cpu().loraShrinkRows(f.in(x), f.in(rowAdapter), adapters == null ? null : adapters.map(f::in), f.out(h));
        }
    }

    @Override
    public void loraExpandRows(Tensor h, Tensor rowAdapter, LoraAdapters adapters, Tensor y) {
        try (HostFallback f = fallback("loraExpandRows")) {
            cpu().loraExpandRows(f.in(h), f.in(rowAdapter), adapters == null ? null : adapters.map(f::in), f.out(y));
        }
    }

    @Override
    public void quantizeRows(Tensor x, Tensor q, Tensor scales) {
        try (HostFallback f = fallback("quantizeRows")) {
            cpu().quantizeRows(f.in(x), f.out(q), f.out(scales));
        }
    }

    @Override
    public void dequantizeRows(Tensor q, Tensor scales, Tensor x) {
        try (HostFallback f = fallback("dequantizeRows")) {
            cpu().dequantizeRows(f.in(q), f.in(scales), f.out(x));
        }
    }

    @Override
    public void int8Linear(Tensor x, Int8Weights w, Tensor bias, Activation act, Tensor y) {
        try (HostFallback f = fallback("int8Linear")) {
            cpu().int8Linear(f.in(x), w, f.in(bias), act, f.out(y));
        }
    }

    @Override
    public void int8LinearShared(Tensor x, Int8Weights[] w, Tensor[] bias, Activation act, Tensor[] y) {
        try (HostFallback f = fallback("int8LinearShared")) {
            Tensor[] b = bias == null ? null : new Tensor[bias.length], out = y == null ? null : new Tensor[y.length]; // null: the CPU's checks say so
            for (int l = 0; b != null && l < b.length; l++) b[l] = f.in(bias[l]);
            for (int l = 0; out != null && l < out.length; l++) out[l] = f.out(y[l]);
            cpu().int8LinearShared(f.in(x), w, b, act, out);
        }
    }

    @Override
    public void int8WeightOnlyLinear(Tensor x, Int8Weights w, Tensor bias, Activation act, Tensor y) {
        try (HostFallback f = fallback("int8WeightOnlyLinear")) {
            cpu().int8WeightOnlyLinear(f.in(x), w, f.in(bias), act, f.out(y));
        }
    }

    @Override
    public void int8Gemm(Tensor a, Int8Weights w, Tensor c) {
        try (HostFallback f = fallback("int8Gemm")) {
            cpu().int8Gemm(f.in(a), w, f.out(c));
        }
    }

    @Override
    public void loraInt8Forward(Tensor x, Tensor mask, Int8Weights w, Tensor bias, Tensor a, Tensor b, float scale, Tensor h, Tensor y) {
        try (HostFallback f = fallback("loraInt8Forward")) {
            cpu().loraInt8Forward(f.in(x), f.in(mask), w, f.in(bias), f.in(a), f.in(b), scale, f.out(h), f.out(y));
        }
    }

    @Override
    public void loraInt8Backward(Tensor x, Tensor mask, Int8Weights w, Tensor a, Tensor b, float scale, Tensor h, Tensor g, Tensor dx, Tensor da, Tensor db) {
        try (HostFallback f = fallback("loraInt8Backward")) {
            cpu().loraInt8Backward(f.in(x), f.in(mask), w, f.in(a), f.in(b), scale, f.in(h), f.in(g), f.out(dx), f.out(da), f.out(db));
        }
    }

    @Override
    public float magnitudeThreshold(Tensor w, long count) {
        try (HostFallback f = fallback("magnitudeThreshold")) {
            return cpu().magnitudeThreshold(f.in(w), count);
        }
    }

    @Override
    public void magnitudeMask(Tensor w, float threshold, Tensor mask) {
        try (HostFallback f = fallback("magnitudeMask")) {
            cpu().magnitudeMask(f.in(w), threshold, f.out(mask));
        }
    }

    @Override
    public void mask2to4(Tensor w, Tensor mask) {
        try (HostFallback f = fallback("mask2to4")) {
            cpu().mask2to4(f.in(w), f.out(mask));
        }
    }

    @Override
    public void applyMask(Tensor w, Tensor mask) {
        try (HostFallback f = fallback("applyMask")) {
            cpu().applyMask(f.out(w), f.in(mask));
        }
    }

    @Override
    public void csrLinear(Tensor x, CsrWeights w, Tensor bias, Activation act, Tensor y) {
        try (HostFallback f = fallback("csrLinear")) {
            cpu().csrLinear(f.in(x), w, f.in(bias), act, f.out(y));
        }
    }

    @Override
    public void csrBackwardInput(Tensor g, CsrWeights w, Tensor dx) {
        try (HostFallback f = fallback("csrBackwardInput")) {
            cpu().csrBackwardInput(f.in(g), w, f.out(dx));
        }
    }

    @Override
    public void csrGradValues(Tensor g, Tensor x, CsrWeights w, Tensor dvalues) {
        try (HostFallback f = fallback("csrGradValues")) {
            cpu().csrGradValues(f.in(g), f.in(x), w, f.out(dvalues));
        }
    }

    @Override
    public void sparse24Linear(Tensor x, Sparse24Weights w, Tensor bias, Activation act, Tensor y) {
        try (HostFallback f = fallback("sparse24Linear")) {
            cpu().sparse24Linear(f.in(x), w, f.in(bias), act, f.out(y));
        }
    }

    @Override
    public void add(Tensor a, Tensor b, Tensor y) {
        try (HostFallback f = fallback("add")) {
            cpu().add(f.in(a), f.in(b), f.out(y));
        }
    }

    @Override
    public void axpy(float alpha, Tensor x, Tensor y) {
        try (HostFallback f = fallback("axpy")) {
            cpu().axpy(alpha, f.in(x), f.out(y));
        }
    }

    @Override
    public void scale(float alpha, Tensor y) {
        try (HostFallback f = fallback("scale")) {
            cpu().scale(alpha, f.out(y));
        }
    }

    @Override
    public void mulRow(Tensor row, Tensor y) {
        try (HostFallback f = fallback("mulRow")) {
            cpu().mulRow(f.in(row), f.out(y));
        }
    }

    @Override
    public void reluForward(Tensor x, Tensor y) {
        try (HostFallback f = fallback("reluForward")) {
            cpu().reluForward(f.in(x), f.out(y));
        }
    }

    @Override
    public void reluBackward(Tensor x, Tensor dy, Tensor dx) {
        try (HostFallback f = fallback("reluBackward")) {
            cpu().reluBackward(f.in(x), f.in(dy), f.out(dx));
        }
    }

    @Override
    public void logSoftmaxForward(Tensor x, Tensor y) {
        try (HostFallback f = fallback("logSoftmaxForward")) {
            cpu().logSoftmaxForward(f.in(x), f.out(y));
        }
    }

    @Override
    public void logSoftmaxBackward(Tensor y, Tensor dy, Tensor dx) {
        try (HostFallback f = fallback("logSoftmaxBackward")) {
            cpu().logSoftmaxBackward(f.in(y), f.in(dy), f.out(dx));
        }
    }

    @Override
    public void addRow(Tensor row, Tensor y) {
        try (HostFallback f = fallback("addRow")) {
            cpu().addRow(f.in(row), f.out(y));
        }
    }

    @Override
    public void sumRows(Tensor x, Tensor out) {
        try (HostFallback f = fallback("sumRows")) {
            cpu().sumRows(f.in(x), f.out(out));
        }
    }

    @Override
    public void sumRowsProduct(Tensor a, Tensor b, Tensor out) {
        try (HostFallback f = fallback("sumRowsProduct")) {
            cpu().sumRowsProduct(f.in(a), f.in(b), f.out(out));
        }
    }

    @Override
    public void rowSquares(Tensor x, Tensor out) {
        try (HostFallback f = fallback("rowSquares")) {
            cpu().rowSquares(f.in(x), f.out(out));
        }
    }

    @Override
    public double sumSquares(Tensor x) {
        try (HostFallback f = fallback("sumSquares")) {
            return cpu().sumSquares(f.in(x));
        }
    }

    @Override
    public void softmaxForward(Tensor x, Tensor y) {
        try (HostFallback f = fallback("softmaxForward")) {
            cpu().softmaxForward(f.in(x), f.out(y));
        }
    }

    @Override
    public void softmaxBackward(Tensor y, Tensor dy, Tensor dx) {
        try (HostFallback f = fallback("softmaxBackward")) {
            cpu().softmaxBackward(f.in(y), f.in(dy), f.out(dx));
        }
    }

    @Override
    public void layerNormForward(Tensor x, Tensor gamma, Tensor beta, float eps, Tensor y, Tensor mean, Tensor rstd) {
        try (HostFallback f = fallback("layerNormForward")) {
            cpu().layerNormForward(f.in(x), f.in(gamma), f.in(beta), eps, f.out(y), f.out(mean), f.out(rstd));
        }
    }

    @Override
    public void layerNormBackward(Tensor x, Tensor gamma, Tensor mean, Tensor rstd, Tensor dy, Tensor dx, Tensor dgamma, Tensor dbeta) {
        try (HostFallback f = fallback("layerNormBackward")) {
            cpu().layerNormBackward(f.in(x), f.in(gamma), f.in(mean), f.in(rstd), f.in(dy), f.out(dx), f.out(dgamma), f.out(dbeta));
        }
    }

    @Override
    public float crossEntropyForward(Tensor logits, Tensor labels, float smoothing, Tensor probs) {
        try (HostFallback f = fallback("crossEntropyForward")) {
            return cpu().crossEntropyForward(f.in(logits), f.in(labels), smoothing, f.out(probs));
        }
    }

    @Override
    public void pgdStep(Tensor adv, Tensor grad, Tensor orig, float stepSize, float epsilon) {
        try (HostFallback f = fallback("pgdStep")) {
            cpu().pgdStep(f.out(adv), f.in(grad), f.in(orig), stepSize, epsilon);
        }
    }

    @Override
    public void gatherColumns(Tensor x, Tensor index, Tensor y) {
        try (HostFallback f = fallback("gatherColumns")) {
            cpu().gatherColumns(f.in(x), f.in(index), f.out(y));
        }
    }

    @Override
    public void crossEntropyBackward(Tensor probs, Tensor labels, float smoothing, float dloss, Tensor dlogits) {
        try (HostFallback f = fallback("crossEntropyBackward")) {
            cpu().crossEntropyBackward(f.in(probs), f.in(labels), smoothing, dloss, f.out(dlogits));
        }
    }

    @Override
    public void attentionBackward(int batch, int heads, Tensor q, Tensor k, Tensor v, float scale, Tensor probs, Tensor dout, Tensor dq, Tensor dk, Tensor dv) {
        try (HostFallback f = fallback("attentionBackward")) {
            cpu().attentionBackward(batch, heads, f.in(q), f.in(k), f.in(v), scale, f.in(probs), f.in(dout), f.out(dq), f.out(dk), f.out(dv));
        }
    }

    @Override
    public void gatherRowsAdd(Tensor ids, Tensor table, Tensor y) {
        try (HostFallback f = fallback("gatherRowsAdd")) {
            cpu().gatherRowsAdd(f.in(ids), f.in(table), f.out(y));
        }
    }

    @Override
    public void scatterRowsAdd(Tensor ids, Tensor dy, Tensor dtable) {
        try (HostFallback f = fallback("scatterRowsAdd")) {
            cpu().scatterRowsAdd(f.in(ids), f.in(dy), f.out(dtable));
        }
    }

    @Override
    public void adamwStep(Tensor param, Tensor grad, Tensor m, Tensor v, float lr, float beta1, float beta2, float eps, float weightDecay, long step) {
        try (HostFallback f = fallback("adamwStep")) {
            cpu().adamwStep(f.out(param), f.in(grad), f.out(m), f.out(v), lr, beta1, beta2, eps, weightDecay, step);
        }
    }

    @Override
    public void sgdStep(Tensor param, Tensor grad, Tensor buf, float lr, float momentum, float dampening, float weightDecay, boolean nesterov, boolean firstStep) {
        try (HostFallback f = fallback("sgdStep")) {
            cpu().sgdStep(f.out(param), f.in(grad), f.out(buf), lr, momentum, dampening, weightDecay, nesterov, firstStep);
        }
    }

    @Override
    public void geluForward(Tensor x, Tensor y, boolean exact) {
        try (HostFallback f = fallback("geluForward")) {
            cpu().geluForward(f.in(x), f.out(y), exact);
        }
    }

    @Override
    public void geluBackward(Tensor x, Tensor dy, Tensor dx, boolean exact) {
        try (HostFallback f = fallback("geluBackward")) {
            cpu().geluBackward(f.in(x), f.in(dy), f.out(dx), exact);
        }
    }

    @Override
    public void attentionForward(int batch, int heads, Tensor q, Tensor k, Tensor v, float scale, Tensor lengths, Tensor probs, Tensor out) {
        try (HostFallback f = fallback("attentionForward")) {
            cpu().attentionForward(batch, heads, f.in(q), f.in(k), f.in(v), scale, f.in(lengths), f.out(probs), f.out(out));
        }
    }
}
