package org.tune4j.backend;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.tune4j.tensor.Memory;
import org.tune4j.tensor.Tensor;

/**
 * The kernel-level operations tune4j's layers are built from. {@link ReferenceBackend} is the plain
 * Java oracle the others are tested against; {@link CpuBackend} runs the native kernels; {@code
 * cuda.CudaBackend} runs them on a GPU, on tensors in its {@link #memory()}.
 *
 * <p>Matrices are F32, row-major; {@code gemm} accepts any leading dimension ({@link Tensor#view}),
 * the LoRA ops need contiguous tensors. Every op checks shapes, dtypes and that the memory is still
 * alive before it runs, and throws {@link IllegalArgumentException} naming the argument; {@code null}
 * is allowed only where a parameter says so. Backward ops accumulate ({@code +=}) into gradients.
 */
public interface Backend {
    /** A short name for tables: "reference", "cpu-avx512", ... */
    String name();

    /** Where this backend's tensors live: the tape makes a step's tensors there, and a model's parameters move there. */
    default Memory memory() {
        return Memory.HOST;
    }

    /** The backend for host tensors beside this one (a model moved back to the host, int8 and sparse layers): itself, or a device backend's CPU. */
    default Backend host() {
        return this;
    }

    /**
     * C = alpha·op(A)·op(B) + beta·C, where op(A) is A or Aᵀ. op(A) is m×k, op(B) k×n, C m×n. With
     * beta = 0 C is only written (NaN in C does not propagate); with alpha = 0, as in BLAS, A and B are not read.
     */
    void gemm(boolean transA, boolean transB, float alpha, Tensor a, Tensor b, float beta, Tensor c);

    /**
     * A linear layer: y [m, n] = x [m, k] wᵀ + bias, w [n, k], bias [n] or null. By default the GEMM then
     * {@link #addRow}; a backend with the bias in its GEMM's epilogue (the CPU's) saves the second pass over y, and
     * may differ from the default in the last bits where k spans several of its K blocks.
     */
    default void linear(Tensor x, Tensor w, Tensor bias, Tensor y) {
        BackendChecks.linearBias(w, bias);
        gemm(false, true, 1f, x, w, 0f, y);
        if (bias == null) return;
        if (y.isContiguous()) addRow(bias, y);
        else for (long i = 0; i < y.dim(0); i++) addRow(bias, y.view(i, 0, 1, y.dim(1))); // y strided (the CPU's linear takes it): a row at a time
    }

    /**
     * {@link #linear} on weights packed ahead: y [m, n] = x [m, k] wᵀ + bias with w = {@code w.weight()}. By default
     * the plain linear on the values; the CPU's runs its GEMM on the packed panels (the same bits for more than 16 rows and outputs).
     */
    default void linearPacked(Tensor x, PackedLinearWeights w, Tensor bias, Tensor y) {
        linear(x, BackendChecks.packedValues(w), bias, y);
    }

    /**
     * LoRA forward (PEFT semantics): y = x Wᵀ + bias + s·(x̃ Aᵀ) Bᵀ with x̃ = x ⊙ mask, and h = x̃ Aᵀ
     * written for the backward pass.
     *
     * @param x [t, d_in]
     * @param mask [t, d_in] dropout mask (0 or 1/(1-p)), or null for no dropout
     * @param w [d_out, d_in], frozen
     * @param bias [d_out], or null
     * @param a [r, d_in]
     * @param b [d_out, r]
     * @param scale s = alpha/r (or alpha/√r for rsLoRA)
     * @param h [t, r], written
     * @param y [t, d_out], written
     */
    void loraForward(Tensor x, Tensor mask, Tensor w, Tensor bias, Tensor a, Tensor b, float scale, Tensor h, Tensor y);

    /**
     * LoRA backward with W frozen: da += s·(g B)ᵀ x̃, db += s·gᵀ h, dx += g W + mask ⊙ (s·(g B) A).
     * Arguments as in {@link #loraForward}; g [t, d_out] is dL/dy; dx [t, d_in] may be null.
     */
    void loraBackward(Tensor x, Tensor mask, Tensor w, Tensor a, Tensor b, float scale, Tensor h, Tensor g, Tensor dx, Tensor da, Tensor db);

    /**
     * {@link #loraForward} on W packed ahead ({@code w.weight()} is W; {@link PackedLinearWeights#packWithTransposed} for a
     * training step's frozen base): by default on its values; the CPU runs the base product on the packing (AMX tiles
     * where packed so, in other bits) with the low-rank term added to its output tiles.
     */
    default void loraForwardPacked(Tensor x, Tensor mask, PackedLinearWeights w, Tensor bias, Tensor a, Tensor b, float scale, Tensor h, Tensor y) {
        loraForward(x, mask, BackendChecks.packedValues(w), bias, a, b, scale, h, y);
    }

    /**
     * {@link #loraBackward} on W packed with its transpose ({@link PackedLinearWeights#packWithTransposed}), dx (may be
     * null) written, dx = g W + mask ⊙ (s·(g B) A), its old contents never read, when not {@code accumulate}; da and db
     * are added into either way. By default dx zeroed, then {@link #loraBackward} on the values; the CPU runs dx's base
     * product on Wᵀ packed.
     */
    default void loraBackwardPacked(Tensor x, Tensor mask, PackedLinearWeights w, Tensor a, Tensor b, float scale, Tensor h, Tensor g, Tensor dx, boolean accumulate,
                                    Tensor da, Tensor db) {
        if (!accumulate && dx != null) BackendChecks.zeroForWrite("dx", dx);
        loraBackward(x, mask, BackendChecks.packedValues(w), a, b, scale, h, g, dx, da, db);
    }

    /**
     * Mixed-adapter LoRA, shrink (S-LoRA's SGMV, tune4j.h "lora mixed"): rows [segStart[s], segStart[s+1]) of x
     * use adapter i = segAdapter[s] (-1: none): h[rows, 0:r_i] = x[rows] A_iᵀ, h's other columns set to 0.
     * The base product runs once for the whole batch, apart; {@link #loraExpandSegments} adds the low-rank term.
     *
     * @param x [t, d_in] (any leading dimension)
     * @param segStart [nseg + 1] I32 on the host: 0, nondecreasing, t last
     * @param segAdapter [nseg] I32 on the host, each in [-1, adapters.count())
     * @param h [t, w] contiguous, w ≥ adapters.maxRank(), written
     */
    void loraShrinkSegments(Tensor x, Tensor segStart, Tensor segAdapter, LoraAdapters adapters, Tensor h);

    /** Mixed-adapter LoRA, expand: y[rows] += s_i·h[rows, 0:r_i] B_iᵀ for each segment (as {@link #loraShrinkSegments}); y [t, d_out] (any leading dimension). */
    void loraExpandSegments(Tensor h, Tensor segStart, Tensor segAdapter, LoraAdapters adapters, Tensor y);

    /**
     * A mixed-adapter batch through an f32 layer in one pass: y = x Wᵀ + bias + s_i·(x A_iᵀ) B_iᵀ for each segment's
     * adapter i (segments as {@link #loraShrinkSegments}, -1: the base alone), h = x A_iᵀ written as shrink writes it.
     * The low-rank term is added to the base GEMM's output tiles, so y is written once.
     *
     * @param w [d_out, d_in] contiguous; bias [d_out] or null; y [t, d_out] (any leading dimension), written
     */
    void loraMixedForward(Tensor x, Tensor w, Tensor bias, Tensor segStart, Tensor segAdapter, LoraAdapters adapters, Tensor h, Tensor y);

    /** {@link #loraMixedForward} over a base packed ahead ({@link #linearPacked}); by default on its values. */
    default void loraMixedForwardPacked(Tensor x, PackedLinearWeights w, Tensor bias, Tensor segStart, Tensor segAdapter, LoraAdapters adapters, Tensor h, Tensor y) {
        loraMixedForward(x, BackendChecks.packedValues(w), bias, segStart, segAdapter, adapters, h, y);
    }

    /** As {@link #loraShrinkSegments}, per row (Punica's BGMV): row p uses adapter rowAdapter[p] (I32 [t] on the host, -1: none). */
    void loraShrinkRows(Tensor x, Tensor rowAdapter, LoraAdapters adapters, Tensor h);

    /** As {@link #loraExpandSegments}, per row. */
    void loraExpandRows(Tensor h, Tensor rowAdapter, LoraAdapters adapters, Tensor y);

    /** W += sign·s·B A in place: sign +1 merges the adapter into W, -1 takes it out again. */
    void loraMerge(Tensor w, Tensor a, Tensor b, float scale, float sign);

    // ---- int8 (ARCHITECTURE.md, "Numerics": symmetric, [-127, 127], scale = absmax/127, round half to even) ----

    /** Per-row quantization of x [m, k] (F32) into q [m, k] (I8) and scales [m] (F32). A zero row gets scale 0. */
    void quantizeRows(Tensor x, Tensor q, Tensor scales);

    /** x [m, k] (F32) = q [m, k] (I8) · scales[row]. */
    void dequantizeRows(Tensor q, Tensor scales, Tensor x);

    /**
     * Dynamic int8 linear layer: x [m, k] is quantized per row, multiplied by the int8 weights [n, k] in
     * int32, and y [m, n] = act(acc · s_x[row] · s_w[col] + bias); bias [n] may be null.
     */
    void int8Linear(Tensor x, Int8Weights w, Tensor bias, Activation act, Tensor y);

    /**
     * Several dynamic int8 linear layers on one input (a transformer's query, key and value): for each l, as
     * {@link #int8Linear}(x, w[l], bias[l], act, y[l]) (a bias may be null), x quantized once; the same values as the
     * separate calls. At most {@value CompressedChecks#INT8_SHARED_MAX} layers, all dense or all 2:4.
     */
    void int8LinearShared(Tensor x, Int8Weights[] w, Tensor[] bias, Activation act, Tensor[] y);

    /** Weight-only int8: y [m, n] = act(s_w[col] · Σ x[row,p] w[col,p] + bias), x kept in f32 (the activations not rounded). */
    void int8WeightOnlyLinear(Tensor x, Int8Weights w, Tensor bias, Activation act, Tensor y);

    /** The exact integer product c [m, n] (I32) = a [m, k] (I8) · wᵀ. */
    void int8Gemm(Tensor a, Int8Weights w, Tensor c);

    /**
     * LoRA over a frozen int8 base: as {@link #loraForward}, with x Wᵀ by the dynamic int8 kernel
     * (x quantized per row). LoRA fine-tuning on a quantized model, on the CPU.
     */
    void loraInt8Forward(Tensor x, Tensor mask, Int8Weights w, Tensor bias, Tensor a, Tensor b, float scale, Tensor h, Tensor y);

    /** As {@link #loraBackward}, with dx += g · deq(W) through the int8 base (deq(W) = q · s_w per row). */
    void loraInt8Backward(Tensor x, Tensor mask, Int8Weights w, Tensor a, Tensor b, float scale, Tensor h, Tensor g, Tensor dx, Tensor da, Tensor db);

    // ---- sparse: pruning masks (I8 0/1 tensors), CSR and 2:4 products ----

    /** The {@code count}-th smallest |w| (1-based) over all of w: pruning below it removes {@code count} weights. */
    float magnitudeThreshold(Tensor w, long count);

    /** mask [n, k] (I8) = |w| &gt; threshold. */
    void magnitudeMask(Tensor w, float threshold, Tensor mask);

    /** mask [n, k] (I8): 2:4 along k, the 2 largest |w| of each group of 4 (ties to the lower position). */
    void mask2to4(Tensor w, Tensor mask);

    /** w ⊙= mask, in place: prunes weights, or keeps a gradient on the mask when fine-tuning. */
    void applyMask(Tensor w, Tensor mask);

    /** y [m, n] = act(x [m, k] Wᵀ + bias), W in CSR; bias may be null. */
    void csrLinear(Tensor x, CsrWeights w, Tensor bias, Activation act, Tensor y);

    /** dx [m, k] += g [m, n] W: the input gradient through a CSR weight. */
    void csrBackwardInput(Tensor g, CsrWeights w, Tensor dx);

    /** dvalues [nnz] += the gradient of W at its nonzeros, Σ_i g[i, j] x[i, c] for nonzero (j, c). */
    void csrGradValues(Tensor g, Tensor x, CsrWeights w, Tensor dvalues);

    /** y [m, n] = act(x [m, k] Wᵀ + bias), W in 2:4 form; bias may be null. */
    void sparse24Linear(Tensor x, Sparse24Weights w, Tensor bias, Activation act, Tensor y);

    // ---- the rest of a training step (tune4j.h "ops"); backward ops accumulate ----

    /** y = a + b (contiguous, same size). */
    void add(Tensor a, Tensor b, Tensor y);

    /** y += alpha·x. */
    void axpy(float alpha, Tensor x, Tensor y);

    /** y *= alpha, in place. */
    void scale(float alpha, Tensor y);

    /** y [m, n] *= row [n] on every row: a per-feature scale. */
    void mulRow(Tensor row, Tensor y);

    /** y = max(x, 0). */
    void reluForward(Tensor x, Tensor y);

    /** dx += (x &gt; 0)·dy. */
    void reluBackward(Tensor x, Tensor dy, Tensor dx);

    /** Log-softmax over each row of x [m, n]. */
    void logSoftmaxForward(Tensor x, Tensor y);

    /** dx += dy − exp(y)·Σ_j dy per row (y the log-softmax). */
    void logSoftmaxBackward(Tensor y, Tensor dy, Tensor dx);

    /** y [m, n] += row [n] on every row: a bias. */
    void addRow(Tensor row, Tensor y);

    /**
     * y [m, n] += scale · h [m, r] bt [r, n]: a rank-r update (an unmerged adapter's up-projection at
     * inference, with bt = Bᵀ kept transposed). h and bt contiguous, y any row stride.
     */
    void lowRankAdd(Tensor h, Tensor bt, float scale, Tensor y);

    /** out [n] += the sum of the rows of x [m, n]: a bias gradient. */
    void sumRows(Tensor x, Tensor out);

    /** out [n] += Σ_i a[i, j]·b[i, j] over the rows of a and b [m, n] (DoRA's magnitude gradient). */
    void sumRowsProduct(Tensor a, Tensor b, Tensor out);

    /** out [m] = Σ_j x[i, j]², each row's squared norm of x [m, n] (DoRA's weight norms). */
    void rowSquares(Tensor x, Tensor out);

    /** Σ x², in double. */
    double sumSquares(Tensor x);

    /** y = GELU(x), the tanh form, or the erf form when {@code exact}. */
    void geluForward(Tensor x, Tensor y, boolean exact);

    /** dx += GELU'(x)·dy. */
    void geluBackward(Tensor x, Tensor dy, Tensor dx, boolean exact);

    /**
     * dx += GELU'(x)·dy, or when not {@code accumulate} dx = GELU'(x)·dy, dx's old contents never read (a new gradient
     * then needs no zeroing pass before it): by default dx zeroed, then {@link #geluBackward(Tensor, Tensor, Tensor,
     * boolean)}; the CPU writes it in the one pass, the same bits.
     */
    default void geluBackward(Tensor x, Tensor dy, Tensor dx, boolean exact, boolean accumulate) {
        if (!accumulate) BackendChecks.zeroForWrite("dx", dx);
        geluBackward(x, dy, dx, exact);
    }

    /** Softmax over each row of x [m, n]. */
    void softmaxForward(Tensor x, Tensor y);

    /** dx += y ⊙ (dy − Σ_j dy·y) per row. */
    void softmaxBackward(Tensor y, Tensor dy, Tensor dx);

    /** LayerNorm over each row of x [m, n] with gamma, beta [n]; saves mean, rstd [m]. */
    void layerNormForward(Tensor x, Tensor gamma, Tensor beta, float eps, Tensor y, Tensor mean, Tensor rstd);

    /**
     * LayerNorm of x + r (a post-LN block's sublayer output and residual, [m, n] each) into y (which may be x or r), the
     * sum's mean and rstd saved: by default {@link #add} then {@link #layerNormForward} in place, and a backend's fused
     * form gives those bits (the CPU's: one pass a row).
     */
    default void addLayerNormForward(Tensor x, Tensor r, Tensor gamma, Tensor beta, float eps, Tensor y, Tensor mean, Tensor rstd) {
        BackendChecks.addLayerNormShapes(x, r, y);
        add(x, r, y);
        layerNormForward(y, gamma, beta, eps, y, mean, rstd);
    }

    /** Accumulates dx [m, n] (may be null), dgamma and dbeta [n] (may be null). */
    void layerNormBackward(Tensor x, Tensor gamma, Tensor mean, Tensor rstd, Tensor dy, Tensor dx, Tensor dgamma, Tensor dbeta);

    /**
     * As {@link #layerNormBackward(Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor)}, dx written (its old
     * contents never read) when not {@code accumulate}; dgamma and dbeta are added into either way. By default dx zeroed
     * first; the CPU writes it in the one pass, the same bits.
     */
    default void layerNormBackward(Tensor x, Tensor gamma, Tensor mean, Tensor rstd, Tensor dy, Tensor dx, Tensor dgamma, Tensor dbeta, boolean accumulate) {
        if (!accumulate && dx != null) BackendChecks.zeroForWrite("dx", dx);
        layerNormBackward(x, gamma, mean, rstd, dy, dx, dgamma, dbeta);
    }

    /** Softmax cross-entropy of logits [m, n] against labels [m] (I32), label smoothing; writes probs; returns the mean loss. */
    float crossEntropyForward(Tensor logits, Tensor labels, float smoothing, Tensor probs);

    /** dlogits += dloss / m · (probs − target). */
    void crossEntropyBackward(Tensor probs, Tensor labels, float smoothing, float dloss, Tensor dlogits);

    /**
     * {@link #crossEntropyForward} with the mean loss written to {@code loss}, one F32 value in this backend's memory,
     * instead of returned: a device backend then reads nothing back to the host, as a step {@link #record recorded} as
     * a CUDA graph must not. By default the returned loss, stored.
     */
    default void crossEntropyLoss(Tensor logits, Tensor labels, float smoothing, Tensor probs, Tensor loss) {
        StepChecks.scalar("loss", loss, memory());
        StepChecks.storeScalar(crossEntropyForward(logits, labels, smoothing, probs), loss);
    }

    /**
     * Global-norm gradient clipping (torch.nn.utils.clip_grad_norm_): the L2 norm of {@code grads} taken together is
     * written to {@code norm} (one F32 value in this backend's memory) and, when it exceeds {@code maxNorm}, every
     * gradient is multiplied by maxNorm / (norm + 1e-6). By default each tensor's {@link #sumSquares} summed in double on
     * the host; a device backend computes the norm and the factor where the gradients are and reads nothing back.
     */
    default void clipGradNorm(Tensor[] grads, float maxNorm, Tensor norm) {
        StepChecks.clipGradNorm(grads, maxNorm, norm, memory());
        double sq = 0;
        for (Tensor g : grads) sq += sumSquares(g);
        double n = Math.sqrt(sq);
        if (n > maxNorm && n > 0) {
            float factor = (float) (maxNorm / (n + 1e-6));
            for (Tensor g : grads) scale(factor, g);
        }
        StepChecks.storeScalar((float) n, norm);
    }

    /**
     * y [m, n] = the columns of x [m, n] in the order {@code index} [n] (I32) gives: y[i, j] = x[i, index[j]] (a ViT's
     * images into rows of patches). On the host index is checked to be in [0, n); a device backend cannot read it there,
     * and its kernel writes NaN where an index is out of range. By default on the host.
     */
    default void gatherColumns(Tensor x, Tensor index, Tensor y) {
        long n = StepChecks.gatherColumns(x, index, y);
        BackendChecks.memory("x", x);
        BackendChecks.valuesIn("index", index, 0, n);
        MemorySegment src = x.segment(), dst = y.segment();
        int[] idx = new int[(int) n];
        MemorySegment.copy(index.segment(), ValueLayout.JAVA_INT, 0, idx, 0, (int) n); // contiguous (StepChecks), on the host (x's memory)
        for (long i = 0; i < x.dim(0); i++) {
            long from = i * x.ld(), to = i * y.ld();
            for (int j = 0; j < n; j++)
                dst.setAtIndex(ValueLayout.JAVA_FLOAT, to + j, src.getAtIndex(ValueLayout.JAVA_FLOAT, from + idx[j]));
        }
    }

    /**
     * ViT token assembly: y [batch·(p+1), d], each sequence its class token cls [d] then its p rows of patches
     * [batch·p, d], plus the positions pos [(p+1)·d] on every sequence. All F32 and contiguous in one memory. By default
     * two copies and an axpy a sequence (the same sums as one pass); a device backend has one kernel.
     */
    default void vitTokens(Tensor patches, Tensor cls, Tensor pos, int batch, Tensor y) {
        long p = StepChecks.vitTokens(patches, cls, pos, batch, y), d = patches.dim(1), seq = p + 1;
        Tensor clsRow = cls.reshape(1, d), posRows = pos.reshape(seq, d);
        for (int b = 0; b < batch; b++) {
            y.view(b * seq, 0, 1, d).copyFrom(clsRow);
            if (p > 0) y.view(b * seq + 1, 0, p, d).copyFrom(patches.view(b * p, 0, p, d));
            axpy(1f, posRows, y.view(b * seq, 0, seq, d));
        }
    }

    /**
     * One step of PGD (Madry et al. 2018) on adversarial images adv, in place: adv + stepSize·sign(grad), projected onto
     * the L∞ ball of radius epsilon around orig and onto [0, 1]; a zero or NaN gradient moves nothing. adv, grad and orig
     * are contiguous F32 of one size in one memory; by default on the host, and a device backend keeps the images there.
     */
    default void pgdStep(Tensor adv, Tensor grad, Tensor orig, float stepSize, float epsilon) {
        StepChecks.pgdStep(adv, grad, orig, stepSize, epsilon);
        BackendChecks.memory("adv", adv);
        MemorySegment a = adv.segment(), g = grad.segment(), o = orig.segment();
        ValueLayout.OfFloat f = ValueLayout.JAVA_FLOAT;
        for (long i = 0; i < adv.numel(); i++) {
            float gi = g.getAtIndex(f, i), oi = o.getAtIndex(f, i);
            float v = a.getAtIndex(f, i) + (gi > 0 ? stepSize : gi < 0 ? -stepSize : 0f);
            a.setAtIndex(f, i, Math.min(1f, Math.max(0f, Math.min(oi + epsilon, Math.max(oi - epsilon, v)))));
        }
    }

    /**
     * Runs {@code work} now and returns what runs it again: a device backend records the launches {@code work} queues
     * (a CUDA graph) and replays them without the Java code, so {@code work} must read nothing back to the host, copy
     * nothing from it, and run on tensors whose addresses stay (a {@code Workspace} after its first step, tensors made
     * before); a host backend runs {@code work} again. When the recording fails, {@code work} runs op by op every time
     * and {@link Recording#notRecorded()} says why.
     */
    default Recording record(Runnable work) {
        if (work == null) throw new IllegalArgumentException("work is null");
        work.run();
        return Recording.eager(work, null);
    }

    /**
     * Self-attention of {@code batch} sequences: q, k, v [batch·seq, heads·dh] (views sharing one ld,
     * as cut from a fused QKV projection, or three contiguous tensors), probs [batch, heads, seq, seq] saved (for the
     * backward) or null (not kept: a no-grad forward; the CPU then scales each output row by its softmax's 1 / Σ instead
     * of normalizing the probabilities, the last bits differing; CUDA writes them into scratch of its own), out [batch·seq, heads·dh]. {@code lengths} [batch]
     * (I32, each in [1, seq]) or null: a padding mask, the keys of sequence b past lengths[b] get probability exactly 0
     * (BERT's additive −∞ mask).
     */
    void attentionForward(int batch, int heads, Tensor q, Tensor k, Tensor v, float scale, Tensor lengths, Tensor probs, Tensor out);

    /** Accumulates dq, dk, dv (laid out as q, k, v) from dout. */
    void attentionBackward(int batch, int heads, Tensor q, Tensor k, Tensor v, float scale, Tensor probs, Tensor dout, Tensor dq, Tensor dk, Tensor dv);

    /**
     * As {@link #attentionBackward(int, int, Tensor, Tensor, Tensor, float, Tensor, Tensor, Tensor, Tensor, Tensor)}, dq, dk
     * and dv written (their old contents never read) when not {@code accumulate}: by default zeroed first; the CPU zeroes
     * each head's columns in the task that then sums into them, the same bits.
     */
    default void attentionBackward(int batch, int heads, Tensor q, Tensor k, Tensor v, float scale, Tensor probs, Tensor dout, Tensor dq, Tensor dk, Tensor dv,
            boolean accumulate) {
        if (!accumulate) {
            BackendChecks.zeroForWrite("dq", dq);
            BackendChecks.zeroForWrite("dk", dk);
            BackendChecks.zeroForWrite("dv", dv);
        }
        attentionBackward(batch, heads, q, k, v, scale, probs, dout, dq, dk, dv);
    }

    /** y [n, d] += table[ids[i]] for each row i: an embedding lookup. ids [n] (I32), each in [0, table rows). */
    void gatherRowsAdd(Tensor ids, Tensor table, Tensor y);

    /** dtable[ids[i]] += dy [n, d] for each row i: the embedding lookup's gradient (rows of one id added in order). */
    void scatterRowsAdd(Tensor ids, Tensor dy, Tensor dtable);

    /** One AdamW step (PyTorch semantics; step counts from 1) over flat buffers of equal size. */
    void adamwStep(Tensor param, Tensor grad, Tensor m, Tensor v, float lr, float beta1, float beta2, float eps, float weightDecay, long step);

    /**
     * {@link #adamwStep} with the rate and the step read from {@code schedule} [2] (F32, in this backend's memory: lr, then
     * the step, a whole number >= 1 below 2^24) when the op runs, not when it is queued, so that a step {@link #record
     * recorded} as a CUDA graph takes each step's: the rate is schedule[0]·lrScale. By default read on the host.
     */
    default void adamwStep(Tensor param, Tensor grad, Tensor m, Tensor v, Tensor schedule, float lrScale, float beta1, float beta2, float eps, float weightDecay) {
        StepChecks.schedule(schedule, memory());
        BackendChecks.memory("schedule", schedule);
        adamwStep(param, grad, m, v, schedule.getFloat(0) * lrScale, beta1, beta2, eps, weightDecay, StepChecks.scheduleStep(schedule));
    }

    /** One SGD step with momentum (PyTorch semantics); {@code firstStep} starts the momentum buffer at the gradient. */
    void sgdStep(Tensor param, Tensor grad, Tensor buf, float lr, float momentum, float dampening, float weightDecay, boolean nesterov, boolean firstStep);
}
