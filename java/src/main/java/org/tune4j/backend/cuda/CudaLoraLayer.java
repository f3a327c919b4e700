package org.tune4j.backend.cuda;

/**
 * One LoRA layer's forward and backward on the GPU (PEFT semantics, W frozen, no dropout, no bias):
 * y = x Wᵀ + s (x Aᵀ) Bᵀ, with shapes x [t, d_in], W [d_out, d_in], A [r, d_in], B [d_out, r].
 *
 * <p>The frozen-base GEMMs dominate (2 t d_in d_out each way), so the rank-r work runs on a second
 * stream while they do, and joins them as one GEMM of inner size r accumulated into the output:
 * <pre>
 *   forward   main:  y  = x Wᵀ                      side:  hs = s x Aᵀ   (kept for backward)
 *             then:  y += hs Bᵀ
 *   backward  main:  dx += g W                      side:  gB = g B,  dB += gᵀ hs,  dA += s gBᵀ x
 *             then:  dx += s gB A
 * </pre>
 * (The CPU library instead carries the low-rank term inside the base GEMM's K, [x | s h] [W | B]ᵀ. On
 * the GPU that puts a copy of x into the concatenated operand, and h before it, on the critical path:
 * measured on an H200 at T = d = 4096, r = 16, the step took 0.54 ms that way; BENCHMARKS.md has this
 * layout's figure.) The backend's stream waits for the side stream before its next work, so callers
 * see one ordered stream.
 *
 * <p>Precision: in BF16 compute the GEMMs read bf16 operands (x, g, W, A, B, s h and gB rounded to
 * nearest even; x and g may also arrive in BF16, and y and dx leave in BF16 or F32) and accumulate in
 * f32; the adapter (the master weights) and its gradients stay f32. F32 compute runs every GEMM at the
 * precision given (IEEE f32, or TF32).
 */
public final class CudaLoraLayer implements AutoCloseable {
    private final CudaBackend gpu, sideGpu;
    private final Cublas blas, sideBlas;
    private final CudaStream side;
    private final int dIn, dOut, r, maxTokens;
    private final float scale;
    private final DeviceTensor.Type compute;
    private final Cublas.Precision precision;
    private final DeviceTensor w;          // [d_out, d_in], compute type
    private final DeviceTensor xOp, gOp;   // [maxTokens, d_in], [maxTokens, d_out]: x and g in the compute type when they arrive in the other
    private final DeviceTensor aOp, bOp;   // A, B in the compute type (BF16 compute; null in F32, where A and B are used as they are)
    private final DeviceTensor hs, gb;     // [maxTokens, r] f32: s x Aᵀ (from forward), g B
    private final DeviceTensor hsOp, gbOp; // their bf16 copies (BF16 compute; null in F32)

    /**
     * w [d_out, d_in] (F32, frozen; copied into the layer), rank r adapter with scale s, up to {@code maxTokens}
     * rows per call; {@code compute} BF16, or F32 with {@code precision}. {@code blas} runs on {@code gpu}'s stream.
     */
    public CudaLoraLayer(CudaBackend gpu, Cublas blas, DeviceTensor w, int r, float scale, int maxTokens, DeviceTensor.Type compute,
            Cublas.Precision precision) {
        if (w == null || w.rank() != 2 || w.type() != DeviceTensor.Type.F32) throw new IllegalArgumentException("w must be an F32 matrix, is " + w);
        if (compute != DeviceTensor.Type.F32 && compute != DeviceTensor.Type.BF16) throw new IllegalArgumentException("compute must be F32 or BF16, is " + compute);
        if (r < 1 || maxTokens < 1) throw new IllegalArgumentException("rank and maxTokens must be >= 1, are " + r + " and " + maxTokens);
        this.gpu = gpu;
        this.blas = blas;
        this.dOut = Math.toIntExact(w.dim(0));
        this.dIn = Math.toIntExact(w.dim(1));
        this.r = r;
        this.scale = scale;
        this.maxTokens = maxTokens;
        this.compute = compute;
        this.precision = precision;
        boolean half = compute == DeviceTensor.Type.BF16;
        this.w = gpu.empty(compute, dOut, dIn);
        gpu.scaleInto(w, 1f, this.w, 0);
        xOp = gpu.empty(compute, maxTokens, dIn);
        gOp = gpu.empty(compute, maxTokens, dOut);
        aOp = half ? gpu.empty(DeviceTensor.Type.BF16, r, dIn) : null;
        bOp = half ? gpu.empty(DeviceTensor.Type.BF16, dOut, r) : null;
        hs = gpu.zeros(DeviceTensor.Type.F32, maxTokens, r);
        gb = gpu.zeros(DeviceTensor.Type.F32, maxTokens, r);
        hsOp = half ? gpu.zeros(DeviceTensor.Type.BF16, maxTokens, r) : null;
        gbOp = half ? gpu.zeros(DeviceTensor.Type.BF16, maxTokens, r) : null;
        side = new CudaStream();
        sideGpu = gpu.on(side);
        sideBlas = Cublas.open(gpu, side.handle());
    }

    /** y [t, d_out] = x Wᵀ + s (x Aᵀ) Bᵀ for x [t, d_in], a [r, d_in], b [d_out, r] (F32); x and y F32, or either BF16 in BF16 compute. */
    public void forward(DeviceTensor x, DeviceTensor a, DeviceTensor b, DeviceTensor y) {
        int t = tokens(x, dIn, "x");
        adapter(a, b);
        if (!output(y, t, dOut)) throw new IllegalArgumentException("y must be [" + t + ", " + dOut + "], F32 (or BF16 in BF16 compute), is " + y);
        DeviceTensor xc = operand(x, xOp), ac = operand(a, aOp), bc = operand(b, bOp), hst = hs.rows(0, t);
        side.follow(gpu.stream());
        sideBlas.gemm(false, true, scale, xc, ac, 0f, hst, precision); // hs = s x Aᵀ          (side)
        DeviceTensor hsc = rounded(sideGpu, hst, hsOp);                 //                      (side)
        blas.gemm(false, true, 1f, xc, w, 0f, y, precision);           // y = x Wᵀ            (main, meanwhile)
        side.join(gpu.stream());
        blas.gemm(false, true, 1f, hsc, bc, 1f, y, precision);         // y += hs Bᵀ
    }

    /**
     * dx += g W + s (g B) A, da += s (g B)ᵀ x, db += s gᵀ h, for the x of the last forward; g [t, d_out] of
     * x's type; dx (F32, or BF16 in BF16 compute) may be null.
     */
    public void backward(DeviceTensor x, DeviceTensor a, DeviceTensor b, DeviceTensor g, DeviceTensor dx, DeviceTensor da, DeviceTensor db) {
        int t = tokens(x, dIn, "x");
        if (tokens(g, dOut, "g") != t || g.type() != x.type()) throw new IllegalArgumentException("g " + g + " must match x " + x + " in rows and type");
        adapter(a, b);
        if (dx != null && !output(dx, t, dIn)) throw new IllegalArgumentException("dx must be [" + t + ", " + dIn + "], F32 (or BF16 in BF16 compute), is " + dx);
        DeviceTensor xc = x.type() == compute ? x : xOp.rows(0, t); // made by the forward
        DeviceTensor gc = operand(g, gOp), ac = operand(a, aOp), bc = operand(b, bOp);
        DeviceTensor hsc = hsOp != null ? hsOp.rows(0, t) : hs.rows(0, t), gbt = gb.rows(0, t);
        side.follow(gpu.stream());
        sideBlas.gemm(false, false, 1f, gc, bc, 0f, gbt, precision);      // gB = g B            (side)
        DeviceTensor gbc = rounded(sideGpu, gbt, gbOp);                     //                     (side)
        sideBlas.gemm(true, false, 1f, gc, hsc, 1f, db, precision);        // dB += gᵀ hs         (side)
        sideBlas.gemm(true, false, scale, gbc, xc, 1f, da, precision);     // dA += s gBᵀ x       (side)
        if (dx != null) blas.gemm(false, false, 1f, gc, w, 1f, dx, precision); // dx += g W   (main, meanwhile)
        side.join(gpu.stream());
        if (dx != null) blas.gemm(false, false, scale, gbc, ac, 1f, dx, precision); // dx += s gB A
    }

    /** v as a GEMM operand: itself when it is in the compute type, else (F32 in BF16 compute) rounded into its rows of {@code scratch}, on the backend's stream. */
    private DeviceTensor operand(DeviceTensor v, DeviceTensor scratch) {
        if (v.type() == compute) return v;
        DeviceTensor c = scratch.rows(0, v.dim(0));
        gpu.toBf16(v, c);
        return c;
    }

    /** An f32 rank-r result as an operand: itself in F32 compute, else rounded into its bf16 copy, on {@code on}'s stream. */
    private static DeviceTensor rounded(CudaBackend on, DeviceTensor f32, DeviceTensor copy) {
        if (copy == null) return f32;
        DeviceTensor c = copy.rows(0, f32.dim(0));
        on.toBf16(f32, c);
        return c;
    }

    /** An output of the layer (y, dx): F32, or BF16 in BF16 compute. */
    private boolean output(DeviceTensor o, int rows, int cols) {
        boolean typeOk = o != null && (o.type() == DeviceTensor.Type.F32 || o.type() == DeviceTensor.Type.BF16 && compute == DeviceTensor.Type.BF16);
        return typeOk && o.rank() == 2 && o.dim(0) == rows && o.dim(1) == cols;
    }

    private int tokens(DeviceTensor x, int cols, String name) {
        boolean typeOk = x != null && (x.type() == DeviceTensor.Type.F32 || x.type() == DeviceTensor.Type.BF16 && compute == DeviceTensor.Type.BF16);
        if (!typeOk || x.rank() != 2 || x.dim(1) != cols) {
            throw new IllegalArgumentException(name + " must be [tokens, " + cols + "], F32 (or BF16 in BF16 compute), is " + x);
        }
        if (x.dim(0) < 1 || x.dim(0) > maxTokens) throw new IllegalArgumentException(name + " has " + x.dim(0) + " rows; this layer takes 1 to " + maxTokens);
        return (int) x.dim(0);
    }

    private void adapter(DeviceTensor a, DeviceTensor b) {
        if (a == null || a.type() != DeviceTensor.Type.F32 || a.rank() != 2 || a.dim(0) != r || a.dim(1) != dIn) {
            throw new IllegalArgumentException("a must be F32 [" + r + ", " + dIn + "], is " + a);
        }
        if (b == null || b.type() != DeviceTensor.Type.F32 || b.rank() != 2 || b.dim(0) != dOut || b.dim(1) != r) {
            throw new IllegalArgumentException("b must be F32 [" + dOut + ", " + r + "], is " + b);
        }
    }

    public DeviceTensor.Type computeType() {
        return compute;
    }

    @Override
    public void close() {
        sideBlas.close();
        side.close();
        for (DeviceTensor d : new DeviceTensor[] {w, xOp, gOp, aOp, bOp, hs, gb, hsOp, gbOp}) if (d != null) d.close();
    }
}
