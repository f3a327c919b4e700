package org.tune4j.backend;

import static org.tune4j.backend.BackendChecks.*;

import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * The whole check of each int8 and sparse op on the host backends, one method per op, named as the op and built
 * from {@link BackendChecks}' pieces: {@link CpuCompressedOps} and {@link ReferenceCompressedOps} call the same one,
 * so a bad call fails alike on both, with one message. Outputs are checked writable first.
 */
final class CompressedChecks {
    private CompressedChecks() {}

    /** x [m, k] F32 contiguous in, q [m, k] I8 contiguous and scales [m] F32 out. Returns m. */
    static long quantizeRows(Tensor x, Tensor q, Tensor scales) {
        writable("q", q, "scales", scales);
        return rowsAndScales(x, q, scales);
    }

    /** As {@link #quantizeRows}, the other way: x written. Returns m. */
    static long dequantizeRows(Tensor q, Tensor scales, Tensor x) {
        writable("x", x);
        return rowsAndScales(x, q, scales);
    }

    private static long rowsAndScales(Tensor x, Tensor q, Tensor scales) {
        matrix("x", x);
        long m = x.dim(0), k = x.dim(1);
        contiguous("x", x, m, k);
        contiguous("q", q, DType.I8, m, k);
        vector("scales", scales, m);
        return m;
    }

    /** x [m, k] (F32, any ld), weights [n, k], bias [n] or null, y [m, n] (F32, any ld, writable). */
    static void int8Linear(Tensor x, Int8Weights w, Tensor bias, Activation act, Tensor y) {
        writable("y", y);
        matrix("x", x);
        if (w == null) throw new IllegalArgumentException("w is null");
        if (!w.isAlive()) throw new IllegalArgumentException("w: its memory was freed (the arena is closed)");
        if (act == null) throw new IllegalArgumentException("act is null (use Activation.NONE)");
        if (x.dim(1) != w.cols()) throw new IllegalArgumentException("x has " + x.dim(1) + " columns, the weights expect " + w.cols());
        if (bias != null) vector("bias", bias, w.rows());
        matrix("y", y, x.dim(0), w.rows());
    }

    /** Layers {@link Backend#int8LinearShared} takes at once (the native limit). */
    static final int INT8_SHARED_MAX = org.tune4j.bindings.tune4j_h.T4J_INT8_SHARED_MAX;

    /** As {@link #int8Linear} for each layer; w, bias and y of one length (1 .. INT8_SHARED_MAX), one packing for all. */
    static void int8LinearShared(Tensor x, Int8Weights[] w, Tensor[] bias, Activation act, Tensor[] y) {
        if (w == null || bias == null || y == null) throw new IllegalArgumentException("w, bias and y must not be null (bias may hold nulls)");
        if (w.length < 1 || w.length > INT8_SHARED_MAX) throw new IllegalArgumentException(w.length + " layers: 1 to " + INT8_SHARED_MAX + " share an input");
        if (bias.length != w.length || y.length != w.length) {
            throw new IllegalArgumentException(w.length + " weights, " + bias.length + " biases and " + y.length + " outputs: one of each per layer");
        }
        for (int l = 0; l < w.length; l++) {
            int8Linear(x, w[l], bias[l], act, y[l]);
            if (w[l].isTwoFour() != w[0].isTwoFour()) throw new IllegalArgumentException("layers 0 and " + l + " mix dense and 2:4 weights, which quantize x differently");
        }
    }

    /** As {@link #int8Linear}, for the weight-only kernel, which runs dense packings only. */
    static void int8WeightOnlyLinear(Tensor x, Int8Weights w, Tensor bias, Activation act, Tensor y) {
        int8Linear(x, w, bias, act, y);
        if (w.isTwoFour()) throw new IllegalArgumentException("the weight-only int8 kernel runs dense weights, not 2:4 ones (use int8Linear)");
    }

    /** a [m, k] I8, weights [n, k], c [m, n] I32 (writable). */
    static void int8Gemm(Tensor a, Int8Weights w, Tensor c) {
        writable("c", c);
        matrix("a", a, DType.I8);
        if (w == null) throw new IllegalArgumentException("w is null");
        if (!w.isAlive()) throw new IllegalArgumentException("w: its memory was freed (the arena is closed)");
        if (a.dim(1) != w.cols()) throw new IllegalArgumentException("a has " + a.dim(1) + " columns, the weights expect " + w.cols());
        matrix("c", c, DType.I32);
        if (c.dim(0) != a.dim(0) || c.dim(1) != w.rows()) {
            throw new IllegalArgumentException("c must be " + a.dim(0) + "x" + w.rows() + ", is " + c.dim(0) + "x" + c.dim(1));
        }
    }

    /** w [rows, cols] contiguous F32 and 0 <= count <= its size: the count-th largest magnitude is a threshold. */
    static void magnitudeThreshold(Tensor w, long count) {
        matrix("w", w);
        contiguous("w", w, w.dim(0), w.dim(1));
        if (count < 0 || count > w.numel()) throw new IllegalArgumentException("count must be in [0, " + w.numel() + "], is " + count);
    }

    /** As {@link #mask}, the mask written, and a threshold that is not NaN (every comparison with it would be false). */
    static void magnitudeMask(Tensor w, float threshold, Tensor mask) {
        writable("mask", mask);
        if (Float.isNaN(threshold)) throw new IllegalArgumentException("threshold is NaN");
        mask(w, mask);
    }

    /** As {@link #mask}, the mask written, and w's k a multiple of 4 (groups of four along k). */
    static void mask2to4(Tensor w, Tensor mask) {
        writable("mask", mask);
        mask(w, mask);
        if (w.dim(1) % 4 != 0) throw new IllegalArgumentException("w: 2:4 needs k divisible by 4, k = " + w.dim(1));
    }

    /** As {@link #mask}, w written. */
    static void applyMask(Tensor w, Tensor mask) {
        writable("w", w);
        mask(w, mask);
    }

    /** w [n, k] F32 contiguous and mask [n, k] I8 contiguous. */
    private static void mask(Tensor w, Tensor mask) {
        matrix("w", w);
        contiguous("w", w, w.dim(0), w.dim(1));
        contiguous("mask", mask, DType.I8, w.dim(0), w.dim(1));
    }

    static void csrLinear(Tensor x, CsrWeights w, Tensor bias, Activation act, Tensor y) {
        writable("y", y);
        if (w == null) throw new IllegalArgumentException("w is null");
        sparseLinear(x, w.rows(), w.cols(), w.isAlive(), bias, act, y);
    }

    static void sparse24Linear(Tensor x, Sparse24Weights w, Tensor bias, Activation act, Tensor y) {
        writable("y", y);
        if (w == null) throw new IllegalArgumentException("w is null");
        sparseLinear(x, w.rows(), w.cols(), w.isAlive(), bias, act, y);
    }

    /** x [m, k] (F32, any ld) against weights of k columns and n rows; bias [n] or null; y [m, n]. */
    private static void sparseLinear(Tensor x, long n, long k, boolean alive, Tensor bias, Activation act, Tensor y) {
        matrix("x", x);
        if (!alive) throw new IllegalArgumentException("w: its memory was freed (the arena is closed)");
        if (act == null) throw new IllegalArgumentException("act is null (use Activation.NONE)");
        if (x.dim(1) != k) throw new IllegalArgumentException("x has " + x.dim(1) + " columns, the weights expect " + k);
        if (bias != null) vector("bias", bias, n);
        matrix("y", y, x.dim(0), n);
    }

    /** g [m, n], the weights [n, k], dx [m, k] (written). */
    static void csrBackwardInput(Tensor g, CsrWeights w, Tensor dx) {
        writable("dx", dx);
        csrShapes(g, w, dx, "dx");
    }

    /** g [m, n], x [m, k], dvalues [nnz] (written). */
    static void csrGradValues(Tensor g, Tensor x, CsrWeights w, Tensor dvalues) {
        writable("dvalues", dvalues);
        csrShapes(g, w, x, "x");
        vector("dvalues", dvalues, w.nnz());
    }

    private static void csrShapes(Tensor g, CsrWeights w, Tensor input, String inputName) {
        if (w == null) throw new IllegalArgumentException("w is null");
        if (!w.isAlive()) throw new IllegalArgumentException("w: its memory was freed (the arena is closed)");
        matrix("g", g);
        if (g.dim(1) != w.rows()) throw new IllegalArgumentException("g has " + g.dim(1) + " columns, the weights have " + w.rows() + " rows");
        matrix(inputName, input, g.dim(0), w.cols());
    }
}
