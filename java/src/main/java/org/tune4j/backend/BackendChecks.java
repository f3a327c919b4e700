package org.tune4j.backend;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * Argument checks shared by every backend, run before any memory is touched, so that a bad call
 * fails the same way on each backend, and never reaches native code. Each message names the argument.
 */
public final class BackendChecks {
    private BackendChecks() {}

    /**
     * Every value of {@code values} (I32 indices on the host: labels, ids, lengths) in [lo, hi), else an
     * {@link IllegalArgumentException} naming the first outside ("ids[3] = 12 is outside [0, 11)"): what any backend
     * checks before a kernel indexes with them (a device's too, which would fault on one out of range).
     */
    public static void valuesIn(String name, Tensor values, long lo, long hi) {
        MemorySegment s = values.isHost() && values.isContiguous() ? values.segment() : null; // read in place, as the kernels will
        for (long i = 0, n = values.numel(); i < n; i++) {
            int v = s != null ? s.getAtIndex(ValueLayout.JAVA_INT, i) : values.getInt(i);
            if (v < lo || v >= hi) throw new IllegalArgumentException(name + "[" + i + "] = " + v + " is outside [" + lo + ", " + hi + ")");
        }
    }

    /**
     * An output the op writes: refused when it is read-only memory (a mapped file, {@code
     * MemorySegment.asReadOnly}), which would crash a kernel; null passes (the other checks say whether
     * it may be null). Overloads for two and three outputs, so the hot path builds no array.
     */
    static void writable(String name, Tensor t) {
        if (t != null && t.isReadOnly()) throw new IllegalArgumentException(name + " is read-only memory, and this op writes it");
    }

    /**
     * Zeroes an output that an op's writing form (accumulate false) writes whole, for a default that adds into zeros:
     * refused by name first when it is null, read-only or freed (in any memory: the op's own checks follow).
     */
    static void zeroForWrite(String name, Tensor t) {
        if (t == null) throw new IllegalArgumentException(name + " is null");
        writable(name, t);
        if (!t.isAlive()) throw new IllegalArgumentException(name + ": its memory was freed (the arena is closed)");
        t.zero();
    }

    static void writable(String n1, Tensor t1, String n2, Tensor t2) {
        writable(n1, t1);
        writable(n2, t2);
    }

    static void writable(String n1, Tensor t1, String n2, Tensor t2, String n3, Tensor t3) {
        writable(n1, t1, n2, t2);
        writable(n3, t3);
    }

    /** Memory a kernel can use: still allocated, and native (the Java heap cannot be passed to native code). */
    static void memory(String name, Tensor t) {
        if (!t.isAlive()) throw new IllegalArgumentException(name + ": its memory was freed (the arena is closed)");
        if (!t.isHost()) throw new IllegalArgumentException(name + " lives in " + t.memory().name() + " memory; this backend computes on host tensors");
        if (!t.segment().isNative()) throw new IllegalArgumentException(name + " is on the Java heap; kernels take native memory (Tensor.zeros, or an Arena's segment)");
    }

    /** w [rows, cols] contiguous F32 and 0 <= count <= its size: the count-th largest magnitude is a threshold. */
    static void magnitudeThreshold(Tensor w, long count) {
        matrix("w", w);
        contiguous("w", w, w.dim(0), w.dim(1));
        if (count < 0 || count > w.numel()) throw new IllegalArgumentException("count must be in [0, " + w.numel() + "], is " + count);
    }

    static void matrix(String name, Tensor t) {
        matrix(name, t, DType.F32);
    }

    static void matrix(String name, Tensor t, DType dtype) {
        if (t == null) throw new IllegalArgumentException(name + " is null");
        if (t.dtype() != dtype) throw new IllegalArgumentException(name + " must be " + dtype + ", is " + t.dtype());
        if (t.rank() != 2) throw new IllegalArgumentException(name + " must be a matrix, has shape " + Arrays.toString(t.shape()));
        memory(name, t);
    }

    static void matrix(String name, Tensor t, long rows, long cols) {
        matrix(name, t);
        if (t.dim(0) != rows || t.dim(1) != cols) {
            throw new IllegalArgumentException(name + " must be " + rows + "x" + cols + ", is " + t.dim(0) + "x" + t.dim(1));
        }
    }

    static void contiguous(String name, Tensor t, long rows, long cols) {
        matrix(name, t, rows, cols);
        if (!t.isContiguous()) throw new IllegalArgumentException(name + " must be contiguous (ld " + t.ld() + " != cols " + cols + ")");
    }

    static void optionalContiguous(String name, Tensor t, long rows, long cols) {
        if (t != null) contiguous(name, t, rows, cols);
    }

    static void vector(String name, Tensor t, long length) {
        vector(name, t, length, DType.F32);
    }

    static void vector(String name, Tensor t, long length, DType dtype) {
        if (t == null) throw new IllegalArgumentException(name + " is null");
        if (t.dtype() != dtype) throw new IllegalArgumentException(name + " must be " + dtype + ", is " + t.dtype());
        if (t.numel() != length || !t.isContiguous()) {
            throw new IllegalArgumentException(name + " must hold " + length + " contiguous " + dtype + " values, has shape " + Arrays.toString(t.shape()));
        }
        memory(name, t);
    }

    static void contiguous(String name, Tensor t, DType dtype, long rows, long cols) {
        matrix(name, t, dtype);
        if (t.dim(0) != rows || t.dim(1) != cols) {
            throw new IllegalArgumentException(name + " must be " + rows + "x" + cols + ", is " + t.dim(0) + "x" + t.dim(1));
        }
        if (!t.isContiguous()) throw new IllegalArgumentException(name + " must be contiguous (ld " + t.ld() + " != cols " + cols + ")");
    }

    /** x [m, k] F32 and q [m, k] I8 contiguous, scales [m] F32. Returns m. */
    static long quantizeRows(Tensor x, Tensor q, Tensor scales) {
        matrix("x", x);
        long m = x.dim(0), k = x.dim(1);
        contiguous("x", x, m, k);
        contiguous("q", q, DType.I8, m, k);
        vector("scales", scales, m);
        return m;
    }

    /** x [m, k] (F32, any ld), weights [n, k], bias [n] or null, y [m, n] (F32, any ld). */
    static void int8Linear(Tensor x, Int8Weights w, Tensor bias, Activation act, Tensor y) {
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

    static void int8Gemm(Tensor a, Int8Weights w, Tensor c) {
        matrix("a", a, DType.I8);
        if (w == null) throw new IllegalArgumentException("w is null");
        if (!w.isAlive()) throw new IllegalArgumentException("w: its memory was freed (the arena is closed)");
        if (a.dim(1) != w.cols()) throw new IllegalArgumentException("a has " + a.dim(1) + " columns, the weights expect " + w.cols());
        matrix("c", c, DType.I32);
        if (c.dim(0) != a.dim(0) || c.dim(1) != w.rows()) {
            throw new IllegalArgumentException("c must be " + a.dim(0) + "x" + w.rows() + ", is " + c.dim(0) + "x" + c.dim(1));
        }
    }

    /** w [n, k] F32 contiguous and mask [n, k] I8 contiguous. */
    /** As {@link #mask}, and a threshold that is not NaN (every comparison with it would be false). */
    static void magnitudeMask(Tensor w, float threshold, Tensor mask) {
        if (Float.isNaN(threshold)) throw new IllegalArgumentException("threshold is NaN");
        mask(w, mask);
    }

    static void mask(Tensor w, Tensor mask) {
        matrix("w", w);
        contiguous("w", w, w.dim(0), w.dim(1));
        contiguous("mask", mask, DType.I8, w.dim(0), w.dim(1));
    }

    /** x [m, k] (F32, any ld) against weights of k columns and n rows; bias [n] or null; y [m, n]. */
    static void sparseLinear(Tensor x, long n, long k, boolean alive, Tensor bias, Activation act, Tensor y) {
        matrix("x", x);
        if (!alive) throw new IllegalArgumentException("w: its memory was freed (the arena is closed)");
        if (act == null) throw new IllegalArgumentException("act is null (use Activation.NONE)");
        if (x.dim(1) != k) throw new IllegalArgumentException("x has " + x.dim(1) + " columns, the weights expect " + k);
        if (bias != null) vector("bias", bias, n);
        matrix("y", y, x.dim(0), n);
    }

    static void csrBackward(Tensor g, CsrWeights w, Tensor dx) {
        if (w == null) throw new IllegalArgumentException("w is null");
        if (!w.isAlive()) throw new IllegalArgumentException("w: its memory was freed (the arena is closed)");
        matrix("g", g);
        if (g.dim(1) != w.rows()) throw new IllegalArgumentException("g has " + g.dim(1) + " columns, the weights have " + w.rows() + " rows");
        matrix("dx", dx, g.dim(0), w.cols());
    }

    static void csrGrad(Tensor g, Tensor x, CsrWeights w, Tensor dvalues) {
        csrBackward(g, w, x);
        vector("dvalues", dvalues, w.nnz());
    }

    /** h [m, r] and bt [r, n] contiguous, y [m, n]. */
    static void lowRankAdd(Tensor h, Tensor bt, Tensor y) {
        matrix("y", y);
        matrix("h", h);
        contiguous("h", h, y.dim(0), h.dim(1));
        contiguous("bt", bt, h.dim(1), y.dim(1));
    }

    /** A contiguous F32 tensor of exactly n elements, any shape. */
    static void flat(String name, Tensor t, long n) {
        if (t == null) throw new IllegalArgumentException(name + " is null");
        if (t.dtype() != DType.F32) throw new IllegalArgumentException(name + " must be F32, is " + t.dtype());
        if (!t.isContiguous()) throw new IllegalArgumentException(name + " must be contiguous");
        if (t.numel() != n) throw new IllegalArgumentException(name + " must hold " + n + " values, holds " + t.numel());
        memory(name, t);
    }

    /** Row ops: a contiguous F32 matrix [m, n]; returns it for its dims. */
    static Tensor rows(String name, Tensor t) {
        matrix(name, t);
        contiguous(name, t, t.dim(0), t.dim(1));
        return t;
    }

    static void labels(Tensor labels, long m, long classes) {
        if (labels == null) throw new IllegalArgumentException("labels is null");
        if (labels.dtype() != DType.I32 || labels.numel() != m || !labels.isContiguous()) {
            throw new IllegalArgumentException("labels must be " + m + " contiguous I32 values, is " + labels);
        }
        memory("labels", labels);
        valuesIn("labels", labels, 0, classes);
    }

    /** As {@link #attention(int, int, Tensor, Tensor, Tensor, Tensor, Tensor)}, and lengths [batch] (I32, each in [1, seq]) or null. */
    static long attention(int batch, int heads, Tensor q, Tensor k, Tensor v, Tensor lengths, Tensor probs, Tensor out) {
        long seq = attention(batch, heads, q, k, v, probs, out);
        if (lengths == null) return seq;
        vector("lengths", lengths, batch, DType.I32);
        valuesIn("lengths", lengths, 1, seq + 1);
        return seq;
    }

    /** ids [n] (I32) each in [0, table rows); table [vocab, d] contiguous; rows [n, d] contiguous (y or dy). */
    static void rowsById(Tensor ids, Tensor table, String tableName, Tensor rows, String rowsName) {
        matrix(tableName, table);
        contiguous(tableName, table, table.dim(0), table.dim(1));
        if (ids == null) throw new IllegalArgumentException("ids is null");
        vector("ids", ids, ids.numel(), DType.I32);
        contiguous(rowsName, rows, ids.numel(), table.dim(1));
        valuesIn("ids", ids, 0, table.dim(0));
    }

    /** q, k, v views [batch·seq, heads·dh] with one ld; returns seq. */
    static long attention(int batch, int heads, Tensor q, Tensor k, Tensor v, Tensor probs, Tensor out) {
        matrix("q", q);
        matrix("k", k, q.dim(0), q.dim(1));
        matrix("v", v, q.dim(0), q.dim(1));
        if (k.ld() != q.ld() || v.ld() != q.ld()) throw new IllegalArgumentException("q, k and v must share one leading dimension");
        if (batch < 1 || heads < 1) throw new IllegalArgumentException("batch and heads must be >= 1");
        if (q.dim(0) % batch != 0) throw new IllegalArgumentException("q has " + q.dim(0) + " rows, not a multiple of batch " + batch);
        if (q.dim(1) % heads != 0) throw new IllegalArgumentException("q has " + q.dim(1) + " columns, not a multiple of heads " + heads);
        long seq = q.dim(0) / batch;
        if (seq > org.tune4j.bindings.tune4j_h.T4J_ATTN_MAX_SEQ) throw new IllegalArgumentException("seq " + seq + " exceeds " + org.tune4j.bindings.tune4j_h.T4J_ATTN_MAX_SEQ);
        if (probs != null) flat("probs", probs, (long) batch * heads * seq * seq); // the forward's may be null: not kept
        matrix("out", out, q.dim(0), q.dim(1));
        return seq;
    }

    /** Elementwise ops: every tensor contiguous F32 of the first one's size (null names skip). */
    static long sameSize(String n1, Tensor t1, String n2, Tensor t2, String n3, Tensor t3) {
        long n = t1 == null ? 0 : t1.numel();
        flat(n1, t1, n);
        if (n2 != null) flat(n2, t2, n);
        if (n3 != null) flat(n3, t3, n);
        return n;
    }

    /**
     * LayerNorm of x + r: x, r and y matrices of one shape, wherever they live (the default runs the LayerNorm on y, a
     * fused kernel on x: a y of x's size but another shape would give them different rows); each op checks the rest.
     */
    public static void addLayerNormShapes(Tensor x, Tensor r, Tensor y) {
        String[] names = {"x", "r", "y"};
        Tensor[] ts = {x, r, y};
        for (int i = 0; i < 3; i++) {
            if (ts[i] == null) throw new IllegalArgumentException(names[i] + " is null");
            if (ts[i].rank() != 2) throw new IllegalArgumentException(names[i] + " must be a matrix, has shape " + Arrays.toString(ts[i].shape()));
            if (ts[i].dim(0) != x.dim(0) || ts[i].dim(1) != x.dim(1))
                throw new IllegalArgumentException(names[i] + " must be " + x.dim(0) + "x" + x.dim(1) + " like x, is " + ts[i].dim(0) + "x" + ts[i].dim(1));
        }
    }

    /** LayerNorm forward: x [m, n] rows; gamma, beta [n]; y [m, n]; mean, rstd [m]. */
    static void layerNormForward(Tensor x, Tensor gamma, Tensor beta, float eps, Tensor y, Tensor mean, Tensor rstd) {
        rows("x", x);
        long m = x.dim(0), n = x.dim(1);
        flat("gamma", gamma, n);
        flat("beta", beta, n);
        flat("y", y, m * n);
        flat("mean", mean, m);
        flat("rstd", rstd, m);
        positive("eps", eps);
    }

    /** LayerNorm backward; dx, dgamma, dbeta may be null. */
    static void layerNormBackward(Tensor x, Tensor gamma, Tensor mean, Tensor rstd, Tensor dy, Tensor dx, Tensor dgamma, Tensor dbeta) {
        rows("x", x);
        long m = x.dim(0), n = x.dim(1);
        flat("gamma", gamma, n);
        flat("mean", mean, m);
        flat("rstd", rstd, m);
        flat("dy", dy, m * n);
        if (dx != null) flat("dx", dx, m * n);
        if (dgamma != null) flat("dgamma", dgamma, n);
        if (dbeta != null) flat("dbeta", dbeta, n);
    }

    /** Cross-entropy: logits (or probs) [m, n] rows, labels in [0, n), other [m, n]. */
    static void crossEntropy(String name, Tensor logits, Tensor labels, float smoothing, String otherName, Tensor other) {
        rows(name, logits);
        long m = logits.dim(0), n = logits.dim(1);
        labels(labels, m, n);
        flat(otherName, other, m * n);
        if (!(smoothing >= 0 && smoothing < 1)) throw new IllegalArgumentException("smoothing must be in [0, 1), is " + smoothing);
    }

    /** Attention backward: the forward's checks, and dq, dk, dv laid out as q. */
    static long attentionBackward(int batch, int heads, Tensor q, Tensor k, Tensor v, Tensor probs, Tensor dout, Tensor dq, Tensor dk, Tensor dv) {
        if (probs == null) throw new IllegalArgumentException("probs is null: the backward reads the forward's probabilities");
        long seq = attention(batch, heads, q, k, v, probs, dout);
        matrix("dq", dq, q.dim(0), q.dim(1));
        matrix("dk", dk, q.dim(0), q.dim(1));
        matrix("dv", dv, q.dim(0), q.dim(1));
        if (dq.ld() != q.ld() || dk.ld() != q.ld() || dv.ld() != q.ld()) throw new IllegalArgumentException("dq, dk and dv must share q's leading dimension");
        return seq;
    }

    /** Optimizer steps: flat buffers of the parameter's size (v may be null for SGD). */
    /** AdamW's tensors: param, grad and both moments, all of param's size. Returns that size. */
    static long adamwTensors(Tensor param, Tensor grad, Tensor m, Tensor v) {
        long n = sgdTensors(param, grad, m, "m");
        flat("v", v, n);
        return n;
    }

    /** SGD's tensors: param, grad and its momentum buffer ({@code bufName}), all of param's size. Returns that size. */
    static long sgdTensors(Tensor param, Tensor grad, Tensor buf, String bufName) {
        long n = param == null ? 0 : param.numel();
        flat("param", param, n);
        flat("grad", grad, n);
        flat(bufName, buf, n);
        return n;
    }

    public static void finite(String name, float v) {
        if (!Float.isFinite(v)) throw new IllegalArgumentException(name + " must be finite, is " + v);
    }

    /** AdamW's hyper-parameters: lr and weight decay finite and >= 0, betas in [0, 1), eps finite and > 0. */
    public static void adamw(float lr, float beta1, float beta2, float eps, float weightDecay) {
        nonNegative("lr", lr);
        if (!(beta1 >= 0 && beta1 < 1)) throw new IllegalArgumentException("beta1 must be in [0, 1), is " + beta1);
        if (!(beta2 >= 0 && beta2 < 1)) throw new IllegalArgumentException("beta2 must be in [0, 1), is " + beta2);
        positive("eps", eps);
        nonNegative("weightDecay", weightDecay);
    }

    /** SGD's: lr, momentum, dampening and weight decay finite and >= 0. */
    static void sgd(float lr, float momentum, float dampening, float weightDecay) {
        nonNegative("lr", lr);
        nonNegative("momentum", momentum);
        nonNegative("dampening", dampening);
        nonNegative("weightDecay", weightDecay);
    }

    public static void positive(String name, float v) {
        if (!(v > 0 && v < Float.POSITIVE_INFINITY)) throw new IllegalArgumentException(name + " must be finite and > 0, is " + v);
    }

    private static void nonNegative(String name, float v) {
        if (!(v >= 0 && v < Float.POSITIVE_INFINITY)) throw new IllegalArgumentException(name + " must be finite and >= 0, is " + v);
    }

    /** Shapes of op(A) m×k, op(B) k×n, C m×n. */
    static void gemm(boolean transA, boolean transB, float alpha, Tensor a, Tensor b, float beta, Tensor c) {
        matrix("a", a);
        matrix("b", b);
        matrix("c", c);
        finite("alpha", alpha);
        finite("beta", beta);
        long m = transA ? a.dim(1) : a.dim(0), k = transA ? a.dim(0) : a.dim(1);
        long kb = transB ? b.dim(1) : b.dim(0), n = transB ? b.dim(0) : b.dim(1);
        if (kb != k) throw new IllegalArgumentException("b: inner dimensions differ: op(a) is " + m + "x" + k + ", op(b) is " + kb + "x" + n);
        if (c.dim(0) != m || c.dim(1) != n) throw new IllegalArgumentException("c must be " + m + "x" + n + ", is " + c.dim(0) + "x" + c.dim(1));
    }

    /**
     * A linear layer's bias on any backend (where w and bias live is the backend's to check): null, or F32 with one
     * value per row of w; checked before y is written.
     */
    static void linearBias(Tensor w, Tensor bias) {
        if (w == null) throw new IllegalArgumentException("w is null");
        if (w.rank() != 2) throw new IllegalArgumentException("w must be a matrix, has shape " + Arrays.toString(w.shape()));
        if (bias == null) return;
        if (bias.dtype() != DType.F32) throw new IllegalArgumentException("bias must be F32, is " + bias.dtype());
        if (bias.numel() != w.dim(0)) throw new IllegalArgumentException("bias must hold " + w.dim(0) + " values (w's rows), holds " + bias.numel());
    }

    /** y = x wᵀ + bias on host memory: the GEMM's checks and the bias's. */
    static void linear(Tensor x, Tensor w, Tensor bias, Tensor y) {
        linearBias(w, bias);
        matrix("w", w);
        matrix("x", x);
        matrix("y", y);
        writable("y", y);
        gemm(false, true, 1f, x, w, 0f, y);
        if (bias != null) flat("bias", bias, y.dim(1));
    }

    /** The values of weights packed ahead, which the checks of the op on plain weights then take. */
    static Tensor packedValues(PackedLinearWeights w) {
        if (w == null) throw new IllegalArgumentException("w is null");
        return w.weight();
    }
}
