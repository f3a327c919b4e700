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
 * step). Big GEMMs run in the compute type (BF16 with f32 accumulation, or F32/TF32); the adapter (the
 * master weights) and its gradients stay f32.
 *
 * <p>BF16 mixed precision: x and g may come in BF16 and y and dx go out in BF16, as a bf16 training
 * loop holds its activations; where the rank fits ({@link CudaBackend#loraDownFits}) one fused pass
 * over x (over g) fills the concatenated operand and forms h (gB); the remaining skinny GEMMs read
 * bf16 activations in bf16 and f32 ones in TF32. F32 compute runs every GEMM at the precision given.
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
    private final CudaStream side;   // the rank-r weight gradients overlap dx's GEMM here
    private final Cublas sideBlas;
    private final Cublas.Precision skinny; // the small-rank GEMMs on F32 operands
    private final boolean fusedForward, fusedBackward; // BF16 compute within the fused projection's range (CudaBackend.loraDown)
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
        side = new CudaStream();
        sideBlas = Cublas.open(gpu, side.handle());
        skinny = compute == DeviceTensor.Type.BF16 ? Cublas.Precision.TF32 : precision;
        fusedForward = compute == DeviceTensor.Type.BF16 && CudaBackend.loraDownFits(dIn, r);
        fusedBackward = compute == DeviceTensor.Type.BF16 && CudaBackend.loraDownFits(dOut, r);
        boolean half = compute == DeviceTensor.Type.BF16;
        a16 = half ? gpu.empty(DeviceTensor.Type.BF16, r, dIn) : null;
        b16 = half ? gpu.empty(DeviceTensor.Type.BF16, dOut, r) : null;
        h16 = half ? gpu.empty(DeviceTensor.Type.BF16, maxTokens, r) : null;
        gb16 = half ? gpu.empty(DeviceTensor.Type.BF16, maxTokens, r) : null;
    }

    /** y [t, d_out] = x Wᵀ + s (x Aᵀ) Bᵀ for x [t, d_in], a [r, d_in], b [d_out, r] (F32); x and y F32, or either BF16 in BF16 compute. */
    public void forward(DeviceTensor x, DeviceTensor a, DeviceTensor b, DeviceTensor y) {
        int t = tokens(x, dIn, "x");
        adapter(a, b);
        if (!output(y, t, dOut)) throw new IllegalArgumentException("y must be [" + t + ", " + dOut + "], F32 (or BF16 in BF16 compute), is " + y);
        DeviceTensor xc = xcat.rows(0, t), hh = h.rows(0, t);
        if (fusedForward) {
            gpu.loraDown(x, a, false, scale, hh, xc);                   // xcat = [x | s h], h = x Aᵀ, one pass over x
        } else {
            copyInto(x, xc);                                            // xcat = [x | ...]
            blas.gemm(false, true, 1f, x, alongside(x, a, a16), 0f, hh, precisionWith(x)); // h = x Aᵀ (kept for backward)
            gpu.scaleInto(hh, scale, xc, dIn);                          // xcat = [x | s h]
        }
        gpu.scaleInto(b, 1f, wb, dIn);                                  // wb = [W | B]
        blas.gemm(false, true, 1f, xc, wb, 0f, y, precision);           // y = xcat wbᵀ
    }

    /**
     * dx += g W + s (g B) A, da += s (g B)ᵀ x, db += s gᵀ h, for the x of the last forward; g [t, d_out]
     * of x's type; dx (F32, or BF16 in BF16 compute) may be null. The two rank-r weight gradients run
     * on a second stream, overlapping dx's GEMM; the backend's stream waits for them before its next work.
     */
    public void backward(DeviceTensor x, DeviceTensor a, DeviceTensor b, DeviceTensor g, DeviceTensor dx, DeviceTensor da, DeviceTensor db) {
        int t = tokens(x, dIn, "x");
        if (tokens(g, dOut, "g") != t || g.type() != x.type()) throw new IllegalArgumentException("g " + g + " must match x " + x + " in rows and type");
        adapter(a, b);
        if (dx != null && !output(dx, t, dIn)) throw new IllegalArgumentException("dx must be [" + t + ", " + dIn + "], F32 (or BF16 in BF16 compute), is " + dx);
        DeviceTensor gbt = gb.rows(0, t), hh = h.rows(0, t), gc = gcat.rows(0, t);
        if (fusedBackward) {
            gpu.loraDown(g, b, true, scale, gbt, gc);                                // gcat = [g | s gB], gB = g B, one pass over g
        } else {
            blas.gemm(false, false, 1f, g, alongside(g, b, b16), 0f, gbt, precisionWith(g)); // gB = g B
        }
        DeviceTensor hOp = alongside(g, hh, h16), gbOp = alongside(x, gbt, gb16);  // bf16 copies made here, before the fork
        side.follow(gpu.stream());
        sideBlas.gemm(true, false, scale, g, hOp, 1f, db, precisionWith(g));       // dB += s gᵀ h      (side stream)
        sideBlas.gemm(true, false, scale, gbOp, x, 1f, da, precisionWith(x));      // dA += s gBᵀ x     (side stream)
        if (dx != null) {
            if (!fusedBackward) {
                copyInto(g, gc);                                                     // gcat = [g | ...]
                gpu.scaleInto(gbt, scale, gc, dOut);                                 // gcat = [g | s gB]
            }
            gpu.scaleInto(a, 1f, wa.rows(dOut, r), 0);                               // wa = [W ; A]
            blas.gemm(false, false, 1f, gc, wa, 1f, dx, precision);                  // dx += gcat wa
        }
        side.join(gpu.stream());
    }

    /**
     * A rank-r F32 matrix as the operand that goes beside {@code big} (x or g) in a GEMM: as it is when
     * big is F32, else rounded into its BF16 scratch {@code small16} (on the backend's stream).
     */
    private DeviceTensor alongside(DeviceTensor big, DeviceTensor small, DeviceTensor small16) {
        if (big.type() != DeviceTensor.Type.BF16) return small;
        DeviceTensor rounded = small16.rows(0, small.dim(0));
        gpu.toBf16(small, rounded);
        return rounded;
    }

    /** The precision of a skinny GEMM beside {@code big}: bf16 operands carry their own, F32 ones take the skinny precision. */
    private Cublas.Precision precisionWith(DeviceTensor big) {
        return big.type() == DeviceTensor.Type.BF16 ? Cublas.Precision.F32 : skinny;
    }

    /** y[:, :cols of x] = x, converting F32 to y's type. */
    private void copyInto(DeviceTensor x, DeviceTensor y) {
        if (x.type() == y.type()) gpu.copyInto(x, y, 0);
        else gpu.scaleInto(x, 1f, y, 0);
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
        for (DeviceTensor d : new DeviceTensor[] {wb, wa, xcat, gcat, h, gb, a16, b16, h16, gb16}) if (d != null) d.close();
    }
}
