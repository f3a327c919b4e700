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
 * step). Big GEMMs run in the compute type (BF16 with f32 accumulation, or F32/TF32); x, g, the
 * gradients and the adapter (the master weights) stay f32.
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
    }

    /** y [t, d_out] (F32) = x Wᵀ + s (x Aᵀ) Bᵀ for x [t, d_in] (F32), a [r, d_in], b [d_out, r] (F32). */
    public void forward(DeviceTensor x, DeviceTensor a, DeviceTensor b, DeviceTensor y) {
        int t = tokens(x, dIn, "x");
        adapter(a, b);
        DeviceTensor xc = xcat.rows(0, t), hh = h.rows(0, t);
        gpu.scaleInto(x, 1f, xc, 0);                                     // xcat = [x | ...]
        blas.gemm(false, true, 1f, x, a, 0f, hh, Cublas.Precision.F32); // h = x Aᵀ (kept for backward)
        gpu.scaleInto(hh, scale, xc, dIn);                               // xcat = [x | s h]
        gpu.scaleInto(b, 1f, wb, dIn);                                   // wb = [W | B]
        blas.gemm(false, true, 1f, xc, wb, 0f, y, precision);            // y = xcat wbᵀ
    }

    /** dx += g W + s (g B) A, da += s (g B)ᵀ x, db += s gᵀ h, for the x of the last forward; g [t, d_out] (F32). */
    public void backward(DeviceTensor x, DeviceTensor a, DeviceTensor b, DeviceTensor g, DeviceTensor dx, DeviceTensor da, DeviceTensor db) {
        int t = tokens(x, dIn, "x");
        if (tokens(g, dOut, "g") != t) throw new IllegalArgumentException("g has " + g.dim(0) + " rows, x " + t);
        adapter(a, b);
        if (dx != null && (dx.dim(0) != t || dx.dim(1) != dIn)) throw new IllegalArgumentException("dx must be [" + t + ", " + dIn + "], is " + dx);
        DeviceTensor gbt = gb.rows(0, t), hh = h.rows(0, t);
        blas.gemm(false, false, 1f, g, b, 0f, gbt, Cublas.Precision.F32);   // gB = g B
        blas.gemm(true, false, scale, g, hh, 1f, db, Cublas.Precision.F32); // dB += s gᵀ h
        blas.gemm(true, false, scale, gbt, x, 1f, da, Cublas.Precision.F32); // dA += s gBᵀ x
        if (dx == null) return;
        DeviceTensor gc = gcat.rows(0, t);
        gpu.scaleInto(g, 1f, gc, 0);                      // gcat = [g | ...]
        gpu.scaleInto(gbt, scale, gc, dOut);              // gcat = [g | s gB]
        gpu.scaleInto(a, 1f, wa.rows(dOut, r), 0);        // wa = [W ; A]
        blas.gemm(false, false, 1f, gc, wa, 1f, dx, precision); // dx += gcat wa
    }

    private int tokens(DeviceTensor x, int cols, String name) {
        if (x == null || x.rank() != 2 || x.dim(1) != cols || x.type() != DeviceTensor.Type.F32) {
            throw new IllegalArgumentException(name + " must be F32 [tokens, " + cols + "], is " + x);
        }
        if (x.dim(0) < 1 || x.dim(0) > maxTokens) throw new IllegalArgumentException(name + " has " + x.dim(0) + " rows; this layer takes 1 to " + maxTokens);
        return (int) x.dim(0);
    }

    private void adapter(DeviceTensor a, DeviceTensor b) {
        if (a == null || a.rank() != 2 || a.dim(0) != r || a.dim(1) != dIn) throw new IllegalArgumentException("a must be [" + r + ", " + dIn + "], is " + a);
        if (b == null || b.rank() != 2 || b.dim(0) != dOut || b.dim(1) != r) throw new IllegalArgumentException("b must be [" + dOut + ", " + r + "], is " + b);
    }

    public DeviceTensor.Type computeType() {
        return compute;
    }

    @Override
    public void close() {
        for (DeviceTensor d : new DeviceTensor[] {wb, wa, xcat, gcat, h, gb}) d.close();
    }
}
