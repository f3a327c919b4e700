package org.tune4j.backend.cuda;

/**
 * One LoRA layer's forward and backward on the GPU (PEFT semantics, W frozen, no dropout, no bias):
 * y = x Wᵀ + s (x Aᵀ) Bᵀ. As on the CPU, the low-rank term rides inside the base GEMM's K instead of a
 * second pass over the output: forward is one GEMM over K = d_in + r,
 * <pre>  y [t, d_out] = [x | s·h] [W | B]ᵀ,   h = x Aᵀ [t, r]</pre>
 * and the input gradient one GEMM over K = d_out + r,
 * <pre>  dx [t, d_in] += [g | s·gB] [W ; A],   gB = g B [t, r]</pre>
 * with dB += s gᵀ h and dA += s (gB)ᵀ x as two skinny GEMMs. The concatenated operands live in buffers
 * made once ([W | B] and [W ; A] keep W and get B and A written into their last r columns or rows each
 * step). Big GEMMs run in the compute type (BF16 with f32 accumulation, or F32/TF32); the outputs, the
 * gradients and the adapter (the master weights) stay f32. In BF16 mixed precision x and g may come in
 * BF16 (as a bf16 training loop holds its activations): they are then copied into the concatenated
 * operands as they are and the skinny GEMMs read them in bf16; F32 x and g are rounded on the copy and
 * the skinny GEMMs take them in TF32.
 */
public final class CudaLoraLayer implements AutoCloseable {
    private final CudaBackend gpu;
    private final Cublas blas;
    private final int dIn, dOut, r, maxTokens;
    private final float scale;
    private final DeviceTensor.Type compute;
    private final Cublas.Precision precision;
    private final DeviceTensor wb;   // [d_out, d_in + r] = [W | B]
    private final DeviceTensor wa;   // [d_out + r, d_in] = [W ; A]
    private final DeviceTensor xcat; // [maxTokens, d_in + r]
    private final DeviceTensor gcat; // [maxTokens, d_out + r]
    private final DeviceTensor h;    // [maxTokens, r] f32
    private final DeviceTensor gb;   // [maxTokens, r] f32
    private final Cublas.Precision skinny; // the small-rank GEMMs on F32 operands
    private final DeviceTensor a16, b16, h16, gb16; // bf16 copies of A, B, h, gB for bf16 inputs (null in F32 compute)

    /**
     * w [d_out, d_in] (F32, frozen; copied into the layer's buffers), rank r adapter with scale s, up to
     * {@code maxTokens} rows per call; {@code compute} BF16, or F32 with {@code precision}.
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
        wb = gpu.zeros(compute, dOut, dIn + r);
        wa = gpu.zeros(compute, dOut + r, dIn);
        gpu.scaleInto(w, 1f, wb, 0);
        gpu.scaleInto(w, 1f, wa.rows(0, dOut), 0);
        xcat = gpu.zeros(compute, maxTokens, dIn + r);
        gcat = gpu.zeros(compute, maxTokens, dOut + r);
        h = gpu.zeros(DeviceTensor.Type.F32, maxTokens, r);
        gb = gpu.zeros(DeviceTensor.Type.F32, maxTokens, r);
        skinny = compute == DeviceTensor.Type.BF16 ? Cublas.Precision.TF32 : precision;
        boolean half = compute == DeviceTensor.Type.BF16;
        a16 = half ? gpu.empty(DeviceTensor.Type.BF16, r, dIn) : null;
        b16 = half ? gpu.empty(DeviceTensor.Type.BF16, dOut, r) : null;
        h16 = half ? gpu.empty(DeviceTensor.Type.BF16, maxTokens, r) : null;
        gb16 = half ? gpu.empty(DeviceTensor.Type.BF16, maxTokens, r) : null;
    }

    /** y [t, d_out] (F32) = x Wᵀ + s (x Aᵀ) Bᵀ for x [t, d_in] (F32, or BF16 in BF16 compute), a [r, d_in], b [d_out, r] (F32). */
    public void forward(DeviceTensor x, DeviceTensor a, DeviceTensor b, DeviceTensor y) {
        int t = tokens(x, dIn, "x");
        adapter(a, b);
        if (y == null || y.type() != DeviceTensor.Type.F32 || y.rank() != 2 || y.dim(0) != t || y.dim(1) != dOut) {
            throw new IllegalArgumentException("y must be F32 [" + t + ", " + dOut + "], is " + y);
        }
        DeviceTensor xc = xcat.rows(0, t), hh = h.rows(0, t);
        if (x.type() == DeviceTensor.Type.BF16) {
            gpu.copyInto(x, xc, 0);                                          // xcat = [x | ...]
            gpu.toBf16(a, a16);
            blas.gemm(false, true, 1f, x, a16, 0f, hh, Cublas.Precision.F32); // h = x Aᵀ (kept for backward)
        } else {
            gpu.scaleInto(x, 1f, xc, 0);
            blas.gemm(false, true, 1f, x, a, 0f, hh, skinny);
        }
        gpu.scaleInto(hh, scale, xc, dIn);                    // xcat = [x | s h]
        gpu.scaleInto(b, 1f, wb, dIn);                        // wb = [W | B]
        blas.gemm(false, true, 1f, xc, wb, 0f, y, precision); // y = xcat wbᵀ
    }

    /**
     * dx += g W + s (g B) A, da += s (g B)ᵀ x, db += s gᵀ h, for the x of the last forward; g [t, d_out]
     * of x's type; dx (F32) may be null.
     */
    public void backward(DeviceTensor x, DeviceTensor a, DeviceTensor b, DeviceTensor g, DeviceTensor dx, DeviceTensor da, DeviceTensor db) {
        int t = tokens(x, dIn, "x");
        if (tokens(g, dOut, "g") != t || g.type() != x.type()) throw new IllegalArgumentException("g " + g + " must match x " + x + " in rows and type");
        adapter(a, b);
        if (dx != null && (dx.type() != DeviceTensor.Type.F32 || dx.dim(0) != t || dx.dim(1) != dIn)) {
            throw new IllegalArgumentException("dx must be F32 [" + t + ", " + dIn + "], is " + dx);
        }
        DeviceTensor gbt = gb.rows(0, t), hh = h.rows(0, t), gc = gcat.rows(0, t);
        if (g.type() == DeviceTensor.Type.BF16) {
            DeviceTensor hh16 = h16.rows(0, t), gbt16 = gb16.rows(0, t);
            gpu.toBf16(b, b16);
            blas.gemm(false, false, 1f, g, b16, 0f, gbt, Cublas.Precision.F32);     // gB = g B
            gpu.toBf16(hh, hh16);
            blas.gemm(true, false, scale, g, hh16, 1f, db, Cublas.Precision.F32);   // dB += s gᵀ h
            gpu.toBf16(gbt, gbt16);
            blas.gemm(true, false, scale, gbt16, x, 1f, da, Cublas.Precision.F32);  // dA += s gBᵀ x
            if (dx == null) return;
            gpu.copyInto(g, gc, 0);                                                  // gcat = [g | ...]
        } else {
            blas.gemm(false, false, 1f, g, b, 0f, gbt, skinny);
            blas.gemm(true, false, scale, g, hh, 1f, db, skinny);
            blas.gemm(true, false, scale, gbt, x, 1f, da, skinny);
            if (dx == null) return;
            gpu.scaleInto(g, 1f, gc, 0);
        }
        gpu.scaleInto(gbt, scale, gc, dOut);                    // gcat = [g | s gB]
        gpu.scaleInto(a, 1f, wa.rows(dOut, r), 0);              // wa = [W ; A]
        blas.gemm(false, false, 1f, gc, wa, 1f, dx, precision); // dx += gcat wa
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
        for (DeviceTensor d : new DeviceTensor[] {wb, wa, xcat, gcat, h, gb, a16, b16, h16, gb16}) if (d != null) d.close();
    }
}
