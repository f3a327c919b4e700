package org.tune4j.backend;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * Argument checks shared by every backend, run before any memory is touched, so that a bad call
 * fails the same way on each backend, and never reaches native code. Each message names the argument.
 * The pieces (a matrix, a flat buffer, a writable output, a finite scalar), and each f32 op's whole check, named
 * as the op, which both host backends call as their op's first line; the int8 and sparse ops' are in
 * {@link CompressedChecks}, the LoRA ops' in {@link LoraChecks}.
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

    /** h [m, r] and bt [r, n] contiguous, y [m, n] (written), scale finite. */
    static void lowRankAdd(Tensor h, Tensor bt, float scale, Tensor y) {
        writable("y", y);
        finite("scale", scale);
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

    /**
     * Attention forward: as {@link #attention(int, int, Tensor, Tensor, Tensor, Tensor, Tensor)}, probs and out written,
     * scale finite, and lengths [batch] (I32, each in [1, seq]) or null. Returns seq.
     */
    static long attentionForward(int batch, int heads, Tensor q, Tensor k, Tensor v, float scale, Tensor lengths, Tensor probs, Tensor out) {
        writable("probs", probs, "out", out);
        finite("scale", scale);
        long seq = attention(batch, heads, q, k, v, probs, out);
        if (lengths == null) return seq;
        vector("lengths", lengths, batch, DType.I32);
        valuesIn("lengths", lengths, 1, seq + 1);
        return seq;
    }

    /** Embedding lookup: y [n, d] (written) += table[ids]. */
    static void gatherRowsAdd(Tensor ids, Tensor table, Tensor y) {
        writable("y", y);
        rowsById(ids, table, "table", y, "y");
    }

    /** Its gradient: dtable (written) [ids] += dy [n, d]. */
    static void scatterRowsAdd(Tensor ids, Tensor dy, Tensor dtable) {
        writable("dtable", dtable);
        rowsById(ids, dtable, "dtable", dy, "dy");
    }

    /** ids [n] (I32) each in [0, table rows); table [vocab, d] contiguous; rows [n, d] contiguous (y or dy). */
    private static void rowsById(Tensor ids, Tensor table, String tableName, Tensor rows, String rowsName) {
        matrix(tableName, table);
        contiguous(tableName, table, table.dim(0), table.dim(1));
        if (ids == null) throw new IllegalArgumentException("ids is null");
        vector("ids", ids, ids.numel(), DType.I32);
        contiguous(rowsName, rows, ids.numel(), table.dim(1));
        valuesIn("ids", ids, 0, table.dim(0));
    }

    /** q, k, v views [batch·seq, heads·dh] with one ld; returns seq. */
    private static long attention(int batch, int heads, Tensor q, Tensor k, Tensor v, Tensor probs, Tensor out) {
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

    // ---- each elementwise or row op's whole check, named as the op (or its family); outputs checked writable first ----

    /** y = a + b, one size. */
    static void add(Tensor a, Tensor b, Tensor y) {
        writable("y", y);
        sameSize("a", a, "b", b, "y", y);
    }

    /** y += alpha x, one size, alpha finite. */
    static void axpy(float alpha, Tensor x, Tensor y) {
        writable("y", y);
        finite("alpha", alpha);
        sameSize("x", x, "y", y, null, null);
    }

    /** y *= alpha, alpha finite. */
    static void scale(float alpha, Tensor y) {
        writable("y", y);
        finite("alpha", alpha);
        flat("y", y, y == null ? 0 : y.numel());
    }

    /** mulRow, addRow: y [m, n] rows, row [n]. */
    static void rowVector(Tensor row, Tensor y) {
        writable("y", y);
        rows("y", y);
        flat("row", row, y.dim(1));
    }

    /** ReLU, GELU forward: y = f(x), one size. */
    static void elementwise(Tensor x, Tensor y) {
        writable("y", y);
        sameSize("x", x, "y", y, null, null);
    }

    /** ReLU, GELU backward: dx from x and dy, one size. */
    static void elementwiseBackward(Tensor x, Tensor dy, Tensor dx) {
        writable("dx", dx);
        sameSize("x", x, "dy", dy, "dx", dx);
    }

    /** Softmax, log-softmax forward, row by row: x [m, n] rows, y of its size. */
    static void rowwise(Tensor x, Tensor y) {
        writable("y", y);
        rows("x", x);
        sameSize("x", x, "y", y, null, null);
    }

    /** Their backward: the forward's y [m, n] rows, dy and dx of its size. */
    static void rowwiseBackward(Tensor y, Tensor dy, Tensor dx) {
        writable("dx", dx);
        rows("y", y);
        sameSize("y", y, "dy", dy, "dx", dx);
    }

    /** out [n] = the column sums of x [m, n]. */
    static void sumRows(Tensor x, Tensor out) {
        writable("out", out);
        rows("x", x);
        flat("out", out, x.dim(1));
    }

    /** out [n] = the column sums of a ⊙ b, both [m, n]. */
    static void sumRowsProduct(Tensor a, Tensor b, Tensor out) {
        writable("out", out);
        rows("a", a);
        contiguous("b", b, a.dim(0), a.dim(1));
        flat("out", out, a.dim(1));
    }

    /** out [m] = each row's sum of squares of x [m, n]. */
    static void rowSquares(Tensor x, Tensor out) {
        writable("out", out);
        rows("x", x);
        flat("out", out, x.dim(0));
    }

    /** x flat, any size. */
    static void sumSquares(Tensor x) {
        flat("x", x, x == null ? 0 : x.numel());
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

    /** LayerNorm forward: x [m, n] rows; gamma, beta [n]; y [m, n]; mean, rstd [m] (y, mean and rstd written). */
    static void layerNormForward(Tensor x, Tensor gamma, Tensor beta, float eps, Tensor y, Tensor mean, Tensor rstd) {
        writable("y", y, "mean", mean, "rstd", rstd);
        rows("x", x);
        long m = x.dim(0), n = x.dim(1);
        flat("gamma", gamma, n);
        flat("beta", beta, n);
        flat("y", y, m * n);
        flat("mean", mean, m);
        flat("rstd", rstd, m);
        positive("eps", eps);
    }

    /** LayerNorm backward; dx, dgamma, dbeta (written) may be null. */
    static void layerNormBackward(Tensor x, Tensor gamma, Tensor mean, Tensor rstd, Tensor dy, Tensor dx, Tensor dgamma, Tensor dbeta) {
        writable("dx", dx, "dgamma", dgamma, "dbeta", dbeta);
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

    /** Cross-entropy forward: logits [m, n] rows, labels in [0, n), probs [m, n] written. */
    static void crossEntropyForward(Tensor logits, Tensor labels, float smoothing, Tensor probs) {
        writable("probs", probs);
        crossEntropy("logits", logits, labels, smoothing, "probs", probs);
    }

    /** Its backward: the forward's probs, a finite dloss, dlogits [m, n] written. */
    static void crossEntropyBackward(Tensor probs, Tensor labels, float smoothing, float dloss, Tensor dlogits) {
        writable("dlogits", dlogits);
        finite("dloss", dloss);
        crossEntropy("probs", probs, labels, smoothing, "dlogits", dlogits);
    }

    private static void crossEntropy(String name, Tensor logits, Tensor labels, float smoothing, String otherName, Tensor other) {
        rows(name, logits);
        long m = logits.dim(0), n = logits.dim(1);
        labels(labels, m, n);
        flat(otherName, other, m * n);
        if (!(smoothing >= 0 && smoothing < 1)) throw new IllegalArgumentException("smoothing must be in [0, 1), is " + smoothing);
    }

    /** Attention backward: the forward's checks, scale finite, and dq, dk, dv (written) laid out as q. Returns seq. */
    static long attentionBackward(int batch, int heads, Tensor q, Tensor k, Tensor v, float scale, Tensor probs, Tensor dout, Tensor dq, Tensor dk, Tensor dv) {
        writable("dq", dq, "dk", dk, "dv", dv);
        finite("scale", scale);
        if (probs == null) throw new IllegalArgumentException("probs is null: the backward reads the forward's probabilities");
        long seq = attention(batch, heads, q, k, v, probs, dout);
        matrix("dq", dq, q.dim(0), q.dim(1));
        matrix("dk", dk, q.dim(0), q.dim(1));
        matrix("dv", dv, q.dim(0), q.dim(1));
        if (dq.ld() != q.ld() || dk.ld() != q.ld() || dv.ld() != q.ld()) throw new IllegalArgumentException("dq, dk and dv must share q's leading dimension");
        return seq;
    }

    /** AdamW's step: param, grad and both moments flat, of param's size (param, m, v written); its scalars; step from 1. Returns the size. */
    static long adamwStep(Tensor param, Tensor grad, Tensor m, Tensor v, float lr, float beta1, float beta2, float eps, float weightDecay, long step) {
        writable("param", param, "m", m, "v", v);
        adamw(lr, beta1, beta2, eps, weightDecay);
        long n = optimizerTensors(param, grad, m, "m");
        flat("v", v, n);
        if (step < 1) throw new IllegalArgumentException("step counts from 1, is " + step);
        return n;
    }

    /** SGD's step: param, grad and the momentum buffer flat, of param's size (param and buf written); its scalars. Returns the size. */
    static long sgdStep(Tensor param, Tensor grad, Tensor buf, float lr, float momentum, float dampening, float weightDecay) {
        writable("param", param, "buf", buf);
        sgd(lr, momentum, dampening, weightDecay);
        return optimizerTensors(param, grad, buf, "buf");
    }

    private static long optimizerTensors(Tensor param, Tensor grad, Tensor buf, String bufName) {
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
    private static void sgd(float lr, float momentum, float dampening, float weightDecay) {
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

    /** Shapes of op(A) m×k, op(B) k×n, C m×n (written); alpha and beta finite. */
    static void gemm(boolean transA, boolean transB, float alpha, Tensor a, Tensor b, float beta, Tensor c) {
        writable("c", c);
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
        writable("y", y); // named y here, before the GEMM's check would name it c
        gemm(false, true, 1f, x, w, 0f, y);
        if (bias != null) flat("bias", bias, y.dim(1));
    }

    /** The values of weights packed ahead, which the checks of the op on plain weights then take. */
    static Tensor packedValues(PackedLinearWeights w) {
        if (w == null) throw new IllegalArgumentException("w is null");
        return w.weight();
    }
}
