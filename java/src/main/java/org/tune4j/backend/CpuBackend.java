package org.tune4j.backend;

import org.tune4j.bindings.tune4j_h;
import org.tune4j.tensor.Tensor;

/**
 * The native CPU kernels of libtune4j.so. Arguments are checked in Java (shapes, dtypes, bounds, freed
 * memory) before the downcall; the native side trusts them.
 *
 * <p>The SIMD level and the thread count are process-wide settings of the native library:
 * {@link #setSimdLevel} and {@link #setThreads}. The level starts at the highest the CPU supports,
 * lowered by the environment variable {@code T4J_SIMD} or the system property {@code tune4j.simd}
 * (portable, avx2, avx512). Results are bitwise identical for any thread count at a
 * given level. How long the pool's threads poll for work before they sleep: {@link #setSpinMicros}, or the
 * system property {@code tune4j.spinMicros} at start-up. The LoRA ops are in {@link CpuLoraOps}; the int8, pruning and
 * sparse ops in {@link CpuCompressedOps}.
 */
public final class CpuBackend extends CpuLoraOps {
    /** System property that lowers the SIMD level at start-up, like the environment variable T4J_SIMD. */
    public static final String SIMD_PROPERTY = "tune4j.simd";
    /** System property: {@link #setSpinMicros} at start-up. */
    public static final String SPIN_PROPERTY = "tune4j.spinMicros";
    /** System property: {@link #setFlushDenormals} at start-up ("true" or "false"). */
    public static final String FLUSH_PROPERTY = "tune4j.flushDenormals";

    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(CpuBackend.class);
    private static final CpuBackend INSTANCE = new CpuBackend();
    /** What is wrong with the SIMD setting, null when nothing: said by {@link #get} rather than failing the class's initialisation. */
    private static final String BAD_SETTING = applySimdSetting();

    private CpuBackend() {}

    /**
     * The property and the environment variable, checked (the native library would take an unknown T4J_SIMD as
     * "highest"); then the kernels' tuned settings ({@link GemmTuning#applyAtStartup}: pinned, tuned here, or known).
     */
    private static String applySimdSetting() {
        try {
            String env = System.getenv("T4J_SIMD");
            if (env != null) SimdLevel.parse(env.strip());
            String forced = System.getProperty(SIMD_PROPERTY);
            if (forced != null && !forced.isBlank()) setSimdLevel(SimdLevel.parse(forced.strip()));
        } catch (IllegalArgumentException e) {
            return e.getMessage() + " in T4J_SIMD or -D" + SIMD_PROPERTY;
        }
        String spin = System.getProperty(SPIN_PROPERTY);
        try {
            if (spin != null && !spin.isBlank()) setSpinMicros(Integer.parseInt(spin.strip()));
        } catch (IllegalArgumentException e) { // a NumberFormatException too
            return "spin microseconds must be an integer in [0, 100000], is '" + spin + "' in -D" + SPIN_PROPERTY;
        }
        String flush = System.getProperty(FLUSH_PROPERTY);
        if (flush != null && !flush.isBlank()) {
            String value = flush.strip();
            if (!value.equalsIgnoreCase("true") && !value.equalsIgnoreCase("false"))
                return "flushing subnormals must be true or false, is '" + flush + "' in -D" + FLUSH_PROPERTY;
            setFlushDenormals(Boolean.parseBoolean(value));
        }
        try {
            GemmTuning.applyAtStartup(GemmTuning.cacheFile());
            LOG.debug("native kernels at {} (this CPU runs {}), {} threads", simdLevel().label(), SimdLevel.supported().stream().map(SimdLevel::label).toList(), threads());
            return null;
        } catch (IllegalArgumentException e) {
            return e.getMessage() + " (pinned by TUNE4J_GEMM_BLOCKS or -D" + GemmTuning.PIN_PROPERTY + ", TUNE4J_INT8_STREAM_TILE or -D" + GemmTuning.INT8_PIN_PROPERTY + ")";
        }
    }

    /**
     * The backend (it holds no state of its own).
     *
     * @throws IllegalArgumentException when T4J_SIMD or the {@value #SIMD_PROPERTY} property names no SIMD level
     */
    public static CpuBackend get() {
        if (BAD_SETTING != null) throw new IllegalArgumentException(BAD_SETTING);
        return INSTANCE;
    }

    @Override
    public String name() {
        return "cpu-" + simdLevel().label();
    }

    /** The level the kernels run at. */
    public static SimdLevel simdLevel() {
        return SimdLevel.of(tune4j_h.t4j_simd_level());
    }

    /**
     * Runs the kernels at {@code level}, or the highest level below it that the CPU supports.
     *
     * @return the level now in use
     */
    public static SimdLevel setSimdLevel(SimdLevel level) {
        return SimdLevel.of(tune4j_h.t4j_set_simd_level(level.code()));
    }

    /** Whether the dynamic int8 kernel runs on VNNI now (AVX-512 level on a CPU with AVX-512 VNNI). */
    public static boolean int8Vnni() {
        return tune4j_h.t4j_simd_level() == tune4j_h.T4J_LEVEL_AVX512 && (tune4j_h.t4j_cpu_features() & tune4j_h.T4J_FEATURE_AVX512_VNNI) != 0;
    }

    /**
     * Whether the dense dynamic int8 kernel runs its whole 16-row blocks on AMX tiles now (tune4j.h
     * {@code t4j_int8_set_amx}: a CPU with AMX-INT8, the AVX-512 level, k a multiple of 64; the same bits as VNNI).
     */
    public static boolean int8Amx() {
        return int8Vnni() && tune4j_h.t4j_int8_amx() != 0;
    }

    /**
     * Asks for the AMX tiles in the dense int8 kernel, or for VNNI alone (for a comparison; both give the same bits);
     * returns whether AMX is in use now (never where the CPU or the OS does not give it).
     */
    public static boolean setInt8Amx(boolean on) {
        tune4j_h.t4j_int8_set_amx(on ? 1 : 0);
        return int8Amx();
    }

    /** The dense int8 kernel's level as a row or a provenance names it: "avx512-amx", "avx512-vnni", else the SIMD level. */
    public static String int8KernelLabel() {
        return int8Amx() ? "avx512-amx" : int8Vnni() ? "avx512-vnni" : simdLevel().label();
    }

    /**
     * Whether weights packed from now on ({@link PackedLinearWeights#pack}) get AMX-BF16 tiles beside the FMA kernels'
     * slivers, and products of more than 32 rows on them run on the tiles (tune4j.h {@code t4j_linear_set_amx};
     * ARCHITECTURE.md, "GEMM": f32 products on AMX tiles): each f32 operand as three bf16 pieces and six piece products
     * summed in f32, as accurate as the FMA kernels' f32, in other bits. Large products of {@link #gemm} and
     * {@link #linear} run on the tiles too, packed at the call ({@link #gemmOnAmx}). On by default where the CPU has
     * AMX-BF16 and the level is AVX-512; {@code T4J_AMX=0} turns it off.
     */
    public static boolean linearAmx() {
        return tune4j_h.t4j_linear_amx() != 0;
    }

    /**
     * Asks for AMX tiles in the f32 products, packed ahead or at the call, or for the FMA kernels alone (their bits,
     * on the slivers weights packed with tiles keep too).
     *
     * @return whether AMX is in use now (never where the CPU or the OS does not give it)
     */
    public static boolean setLinearAmx(boolean on) {
        tune4j_h.t4j_linear_set_amx(on ? 1 : 0);
        return linearAmx();
    }

    /**
     * Whether {@link #gemm} (A transposed or not: {@code transA}; {@link #linear}'s is not) runs a product of m x n
     * outputs over k on AMX tiles, its operands packed at the call (tune4j.h {@code t4j_gemm_on_amx}): AMX in use
     * ({@link #linearAmx}), more than 32 rows, 32 columns and 32 k or more, 1.5e8 flops or more (a full fine-tuning
     * step's products, whose weights change at every step), and with A transposed (a weight gradient) k of 1536 or less.
     */
    public static boolean gemmOnAmx(boolean transA, long m, long n, long k) {
        return tune4j_h.t4j_gemm_on_amx(transA ? 1 : 0, m, n, k) != 0;
    }

    /** The packed f32 linear's kernel as a row names it: "avx512-amx-bf16x6" on AMX tiles, else the SIMD level. */
    public static String packedLinearLabel() {
        return linearAmx() ? "avx512-amx-bf16x6" : simdLevel().label();
    }

    /** The most threads the native pool runs (threads.c). */
    public static final int MAX_THREADS = 256;

    /** Threads the calling thread's kernels use: {@link #setThreads}'s, or fewer under {@link #setCallerThreads}'s cap. */
    public static int threads() {
        return tune4j_h.t4j_num_threads();
    }

    /** Threads the kernels use; 1 runs every kernel on the calling thread. */
    public static void setThreads(int n) {
        if (n < 1 || n > MAX_THREADS) throw new IllegalArgumentException("threads must be in [1, " + MAX_THREADS + "], is " + n);
        tune4j_h.t4j_set_num_threads(n);
    }

    /**
     * Caps the threads of the kernels the calling thread runs at {@code n} (at most {@link #threads()} still), or lifts
     * the cap ({@code n} 0): a thread working beside others (a training step's micro-batches, each on a thread of its
     * own: {@code autograd.MicroBatches}) keeps to its share of the cores. The same bits for any cap.
     */
    public static void setCallerThreads(int n) {
        if (n < 0 || n > MAX_THREADS) throw new IllegalArgumentException("caller threads must be in [0, " + MAX_THREADS + "], is " + n);
        tune4j_h.t4j_set_caller_threads(n);
    }

    /**
     * Microseconds a pool thread polls for the next parallel region before it sleeps (default 200; 0 sleeps at
     * once). Polling is what lets a training step's short kernels use every core: waking a sleeping thread costs
     * tens of microseconds on a VM. A service that shares its cores with other work may want it lower.
     */
    public static int spinMicros() {
        return tune4j_h.t4j_spin_us();
    }

    /** Sets {@link #spinMicros()}; in [0, 100000]. */
    public static void setSpinMicros(int micros) {
        if (micros < 0 || micros > 100_000) throw new IllegalArgumentException("spin microseconds must be in [0, 100000], is " + micros);
        tune4j_h.t4j_set_spin_us(micros);
    }

    /**
     * Whether the kernels flush subnormal floats (below 1.2e-38) to zero: true by default. A subnormal operand or result
     * costs an Intel core a microcode assist of about a hundred cycles: attention over peaked scores, where 0.6% of the
     * probabilities were subnormal, ran its backward 6.6x slower (ARCHITECTURE.md, "Numerics"). False keeps IEEE gradual
     * underflow, as PyTorch does by default. The setting covers the native kernels only: Java's own arithmetic, this
     * thread's included, keeps IEEE semantics.
     */
    public static boolean flushDenormals() {
        return tune4j_h.t4j_flush_denormals() != 0;
    }

    /** Sets {@link #flushDenormals()}. */
    public static void setFlushDenormals(boolean on) {
        tune4j_h.t4j_set_flush_denormals(on ? 1 : 0);
    }

    /** Bytes of the CPU's level-1 data, level-2 or level-3 cache as cpuid reports them; 0 where unknown. */
    public static long cacheBytes(int level) {
        if (level < 1 || level > 3) throw new IllegalArgumentException("cache level must be 1, 2 or 3, is " + level);
        return tune4j_h.t4j_cache_bytes(level);
    }

    @Override
    public void linear(Tensor x, Tensor w, Tensor bias, Tensor y) {
        BackendChecks.linear(x, w, bias, y);
        status(tune4j_h.t4j_linear(y.dim(0), y.dim(1), x.dim(1), x.segment(), x.ld(), w.segment(), w.ld(), seg(bias), y.segment(), y.ld()), "linear");
    }

    /** Where the weights were packed at another SIMD level or K block than the current ones, the plain linear (the same bits), counted. */
    @Override
    public void linearPacked(Tensor x, PackedLinearWeights w, Tensor bias, Tensor y) {
        Tensor weight = BackendChecks.packedValues(w);
        BackendChecks.linear(x, weight, bias, y);
        int rc = tune4j_h.t4j_linear_packed(y.dim(0), y.dim(1), x.dim(1), x.segment(), x.ld(), w.packed(), seg(bias), y.segment(), y.ld());
        if (rc == tune4j_h.T4J_ERR_WRONG_PACKING) {
            w.countFallback();
            linear(x, weight, bias, y);
        } else {
            status(rc, "linearPacked");
        }
    }

    @Override
    public void gemm(boolean transA, boolean transB, float alpha, Tensor a, Tensor b, float beta, Tensor c) {
        BackendChecks.gemm(transA, transB, alpha, a, b, beta, c);
        long m = c.dim(0), n = c.dim(1), k = transA ? a.dim(0) : a.dim(1);
        status(tune4j_h.t4j_gemm(transA ? 1 : 0, transB ? 1 : 0, m, n, k, alpha, a.segment(), a.ld(), b.segment(), b.ld(),
                beta, c.segment(), c.ld()), "gemm");
    }

    // ---- training-step ops ----

    @Override
    public void add(Tensor a, Tensor b, Tensor y) {
        BackendChecks.add(a, b, y);
        tune4j_h.t4j_add(a.numel(), a.segment(), b.segment(), y.segment());
    }

    @Override
    public void axpy(float alpha, Tensor x, Tensor y) {
        BackendChecks.axpy(alpha, x, y);
        tune4j_h.t4j_axpy(x.numel(), alpha, x.segment(), y.segment());
    }

    @Override
    public void scale(float alpha, Tensor y) {
        BackendChecks.scale(alpha, y);
        tune4j_h.t4j_scale(y.numel(), alpha, y.segment());
    }

    @Override
    public void mulRow(Tensor row, Tensor y) {
        BackendChecks.rowVector(row, y);
        tune4j_h.t4j_mul_row(y.dim(0), y.dim(1), row.segment(), y.segment());
    }

    @Override
    public void reluForward(Tensor x, Tensor y) {
        BackendChecks.elementwise(x, y);
        tune4j_h.t4j_relu_forward(x.numel(), x.segment(), y.segment());
    }

    @Override
    public void reluBackward(Tensor x, Tensor dy, Tensor dx) {
        BackendChecks.elementwiseBackward(x, dy, dx);
        tune4j_h.t4j_relu_backward(x.numel(), x.segment(), dy.segment(), dx.segment());
    }

    @Override
    public void logSoftmaxForward(Tensor x, Tensor y) {
        BackendChecks.rowwise(x, y);
        tune4j_h.t4j_log_softmax_forward(x.dim(0), x.dim(1), x.segment(), y.segment());
    }

    @Override
    public void logSoftmaxBackward(Tensor y, Tensor dy, Tensor dx) {
        BackendChecks.rowwiseBackward(y, dy, dx);
        tune4j_h.t4j_log_softmax_backward(y.dim(0), y.dim(1), y.segment(), dy.segment(), dx.segment());
    }

    @Override
    public void addRow(Tensor row, Tensor y) {
        BackendChecks.rowVector(row, y);
        tune4j_h.t4j_add_row(y.dim(0), y.dim(1), row.segment(), y.segment());
    }

    @Override
    public void lowRankAdd(Tensor h, Tensor bt, float scale, Tensor y) {
        BackendChecks.lowRankAdd(h, bt, scale, y);
        tune4j_h.t4j_low_rank_add(y.dim(0), y.dim(1), h.dim(1), h.segment(), bt.segment(), scale, y.segment(), y.ld());
    }

    @Override
    public void sumRows(Tensor x, Tensor out) {
        BackendChecks.sumRows(x, out);
        tune4j_h.t4j_sum_rows(x.dim(0), x.dim(1), x.segment(), out.segment());
    }

    @Override
    public void sumRowsProduct(Tensor a, Tensor b, Tensor out) {
        BackendChecks.sumRowsProduct(a, b, out);
        tune4j_h.t4j_sum_rows_product(a.dim(0), a.dim(1), a.segment(), b.segment(), out.segment());
    }

    @Override
    public void rowSquares(Tensor x, Tensor out) {
        BackendChecks.rowSquares(x, out);
        tune4j_h.t4j_row_squares(x.dim(0), x.dim(1), x.segment(), out.segment());
    }

    @Override
    public double sumSquares(Tensor x) {
        BackendChecks.sumSquares(x);
        return tune4j_h.t4j_sum_squares(x.numel(), x.segment());
    }

    @Override
    public void geluForward(Tensor x, Tensor y, boolean exact) {
        BackendChecks.elementwise(x, y);
        tune4j_h.t4j_gelu_forward(x.numel(), x.segment(), y.segment(), exact ? 1 : 0);
    }

    @Override
    public void geluBackward(Tensor x, Tensor dy, Tensor dx, boolean exact) {
        geluBackward(x, dy, dx, exact, true);
    }

    @Override
    public void geluBackward(Tensor x, Tensor dy, Tensor dx, boolean exact, boolean accumulate) {
        BackendChecks.elementwiseBackward(x, dy, dx);
        tune4j_h.t4j_gelu_backward(x.numel(), x.segment(), dy.segment(), dx.segment(), exact ? 1 : 0, accumulate ? 1 : 0);
    }

    @Override
    public void softmaxForward(Tensor x, Tensor y) {
        BackendChecks.rowwise(x, y);
        tune4j_h.t4j_softmax_forward(x.dim(0), x.dim(1), x.segment(), y.segment());
    }

    @Override
    public void softmaxBackward(Tensor y, Tensor dy, Tensor dx) {
        BackendChecks.rowwiseBackward(y, dy, dx);
        tune4j_h.t4j_softmax_backward(y.dim(0), y.dim(1), y.segment(), dy.segment(), dx.segment());
    }

    @Override
    public void addLayerNormForward(Tensor x, Tensor r, Tensor gamma, Tensor beta, float eps, Tensor y, Tensor mean, Tensor rstd) {
        BackendChecks.addLayerNormShapes(x, r, y);
        BackendChecks.sameSize("x", x, "r", r, "y", y);
        BackendChecks.layerNormForward(x, gamma, beta, eps, y, mean, rstd);
        tune4j_h.t4j_add_layer_norm_forward(x.dim(0), x.dim(1), x.segment(), r.segment(), gamma.segment(), beta.segment(), eps, y.segment(), mean.segment(),
                rstd.segment());
    }

    @Override
    public void layerNormForward(Tensor x, Tensor gamma, Tensor beta, float eps, Tensor y, Tensor mean, Tensor rstd) {
        BackendChecks.layerNormForward(x, gamma, beta, eps, y, mean, rstd);
        long m = x.dim(0), n = x.dim(1);
        tune4j_h.t4j_layer_norm_forward(m, n, x.segment(), gamma.segment(), beta.segment(), eps, y.segment(), mean.segment(), rstd.segment());
    }

    @Override
    public void layerNormBackward(Tensor x, Tensor gamma, Tensor mean, Tensor rstd, Tensor dy, Tensor dx, Tensor dgamma, Tensor dbeta) {
        layerNormBackward(x, gamma, mean, rstd, dy, dx, dgamma, dbeta, true);
    }

    @Override
    public void layerNormBackward(Tensor x, Tensor gamma, Tensor mean, Tensor rstd, Tensor dy, Tensor dx, Tensor dgamma, Tensor dbeta, boolean accumulate) {
        BackendChecks.layerNormBackward(x, gamma, mean, rstd, dy, dx, dgamma, dbeta);
        long m = x.dim(0), n = x.dim(1);
        tune4j_h.t4j_layer_norm_backward(m, n, x.segment(), gamma.segment(), mean.segment(), rstd.segment(), dy.segment(), seg(dx), seg(dgamma), seg(dbeta),
                accumulate ? 1 : 0);
    }

    @Override
    public float crossEntropyForward(Tensor logits, Tensor labels, float smoothing, Tensor probs) {
        BackendChecks.crossEntropyForward(logits, labels, smoothing, probs);
        long m = logits.dim(0), n = logits.dim(1);
        float loss = tune4j_h.t4j_cross_entropy_forward(m, n, logits.segment(), labels.segment(), smoothing, probs.segment());
        if (Float.isNaN(loss)) throw new IllegalStateException("cross-entropy is NaN: NaN or infinite logits, or no memory for the row losses");
        return loss;
    }

    @Override
    public void crossEntropyBackward(Tensor probs, Tensor labels, float smoothing, float dloss, Tensor dlogits) {
        BackendChecks.crossEntropyBackward(probs, labels, smoothing, dloss, dlogits);
        long m = probs.dim(0), n = probs.dim(1);
        tune4j_h.t4j_cross_entropy_backward(m, n, probs.segment(), labels.segment(), smoothing, dloss, dlogits.segment());
    }

    @Override
    public void attentionForward(int batch, int heads, Tensor q, Tensor k, Tensor v, float scale, Tensor lengths, Tensor probs, Tensor out) {
        long seq = BackendChecks.attentionForward(batch, heads, q, k, v, scale, lengths, probs, out);
        tune4j_h.t4j_attention_forward(batch, heads, seq, q.dim(1) / heads, q.segment(), k.segment(), v.segment(), q.ld(), scale, seg(lengths),
                seg(probs), out.segment(), out.ld());
    }

    @Override
    public void attentionBackward(int batch, int heads, Tensor q, Tensor k, Tensor v, float scale, Tensor probs, Tensor dout, Tensor dq, Tensor dk, Tensor dv) {
        attentionBackward(batch, heads, q, k, v, scale, probs, dout, dq, dk, dv, true);
    }

    @Override
    public void attentionBackward(int batch, int heads, Tensor q, Tensor k, Tensor v, float scale, Tensor probs, Tensor dout, Tensor dq, Tensor dk, Tensor dv,
            boolean accumulate) {
        long seq = BackendChecks.attentionBackward(batch, heads, q, k, v, scale, probs, dout, dq, dk, dv);
        tune4j_h.t4j_attention_backward(batch, heads, seq, q.dim(1) / heads, q.segment(), k.segment(), v.segment(), q.ld(), scale, probs.segment(),
                dout.segment(), dout.ld(), dq.segment(), dk.segment(), dv.segment(), accumulate ? 1 : 0);
    }

    @Override
    public void gatherRowsAdd(Tensor ids, Tensor table, Tensor y) {
        BackendChecks.gatherRowsAdd(ids, table, y);
        tune4j_h.t4j_gather_rows_add(ids.numel(), table.dim(1), ids.segment(), table.segment(), y.segment());
    }

    @Override
    public void scatterRowsAdd(Tensor ids, Tensor dy, Tensor dtable) {
        BackendChecks.scatterRowsAdd(ids, dy, dtable);
        tune4j_h.t4j_scatter_rows_add(ids.numel(), dtable.dim(1), ids.segment(), dy.segment(), dtable.segment());
    }

    @Override
    public void adamwStep(Tensor param, Tensor grad, Tensor m, Tensor v, float lr, float beta1, float beta2, float eps, float weightDecay, long step) {
        long n = BackendChecks.adamwStep(param, grad, m, v, lr, beta1, beta2, eps, weightDecay, step);
        tune4j_h.t4j_adamw_step(n, param.segment(), grad.segment(), m.segment(), v.segment(), lr, beta1, beta2, eps, weightDecay, step);
    }

    @Override
    public void sgdStep(Tensor param, Tensor grad, Tensor buf, float lr, float momentum, float dampening, float weightDecay, boolean nesterov, boolean firstStep) {
        long n = BackendChecks.sgdStep(param, grad, buf, lr, momentum, dampening, weightDecay);
        tune4j_h.t4j_sgd_step(n, param.segment(), grad.segment(), buf.segment(), lr, momentum, dampening, weightDecay, nesterov ? 1 : 0, firstStep ? 1 : 0);
    }
}
