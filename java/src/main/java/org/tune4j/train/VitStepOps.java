package org.tune4j.train;

import org.tune4j.tensor.Tensor;

/**
 * What {@link VitStep} needs from a backend, over its tensor type T: the host's {@link Tensor}
 * ({@link HostVitStepOps}, the oracle the tests check the step against) or a GPU's device tensors
 * ({@link CudaVitStepOps}). Every op may be queued (a GPU's are): only {@link #download} waits. Matrices
 * are row-major; "+=" marks the ops that accumulate, every other output is overwritten.
 */
interface VitStepOps<T> extends AutoCloseable {
    T empty(long... shape);

    T emptyInts(long n);

    /** A new tensor holding a copy of host. */
    T upload(Tensor host);

    /** dst = host (same size). */
    void upload(Tensor host, T dst);

    /** host = src (same size); waits for the work queued before. */
    void download(T src, Tensor host);

    void zero(T t);

    void copy(T src, T dst);

    /** c [m, n] = alpha op(a) op(b) + beta c. */
    void gemm(boolean transA, boolean transB, float alpha, T a, T b, float beta, T c);

    /** y [m, n] += bias [n] on every row. */
    void addBias(T bias, T y);

    /** out [n] += the sum of the rows of x [m, n] (a bias's gradient). */
    void sumRows(T x, T out);

    /** The same values seen with another shape of as many elements (a view: freeing it frees nothing). */
    T reshape(T t, long... shape);

    /** y = a + b. */
    void add(T a, T b, T y);

    /** dst[i·ldd + j] = src[i·lds + j] for i < rows, j < cols. */
    void copy2d(long rows, long cols, T src, long lds, T dst, long ldd);

    /** dst[i, j] = src[i, index[j]] for index [n] I32, src and dst each holding m·n values (m rows of n, whatever their shapes). */
    void gatherColumns(T src, T index, T dst);

    /** x [batch·(p+1), d]: each sequence is cls then its p rows of emb [batch·p, d], plus pos [p+1, d]. */
    void vitTokens(int batch, T emb, T cls, T pos, T x);

    /** emb [batch·p, d] = the rows of x [batch·(p+1), d] after each sequence's first: the patch rows' part of vitTokens' adjoint. */
    void patchRowsOfTokens(int batch, T x, T emb);

    void layerNormForward(T x, T gamma, T beta, float eps, T y, T mean, T rstd);

    /** dx, dgamma, dbeta += the LayerNorm's gradients (any of them null to skip). */
    void layerNormBackward(T x, T gamma, T mean, T rstd, T dy, T dx, T dgamma, T dbeta);

    /** y = GELU(x), the tanh form. */
    void geluForward(T x, T y);

    /** dx += GELU'(x) dy. */
    void geluBackward(T x, T dy, T dx);

    /** qkv [batch·seq, 3·d] → out [batch·seq, d]; probs [batch·heads·seq·seq] kept. */
    void attentionForward(int batch, int heads, T qkv, float scale, T probs, T out);

    /** dqkv [batch·seq, 3·d] = the gradient of q | k | v. */
    void attentionBackward(int batch, int heads, T qkv, T probs, T dout, float scale, T dqkv);

    /** probs = softmax(logits [m, n]); lossSum [1] = the sum over rows of the cross-entropy against labels [m], label smoothing eps. */
    void crossEntropyForward(T logits, T labels, float smoothing, T probs, T lossSum);

    /** dlogits += the gradient of the mean cross-entropy: (probs - target(labels, smoothing)) / m. */
    void crossEntropyBackwardMean(T probs, T labels, float smoothing, T dlogits);

    /** sums [count, 1]: row {@code slot} = Σ x². */
    void sumSquares(T x, T sums, int slot);

    /** scale [1] = clip_grad_norm_'s factor for the global norm √(Σ sums): maxNorm / (norm + 1e-6) above maxNorm, else 1. */
    void clipScale(T sums, float maxNorm, T scale);

    /** AdamW (PyTorch's betas and eps, decoupled weight decay) on grad × gradScale [1] (null: × 1). */
    void adamw(T param, T grad, T gradScale, T m, T v, float lr, float weightDecay, long step);

    /**
     * Runs {@code work}, which must only queue ops (no upload, download or allocation of its own). Where the
     * device can record it (a GPU: a CUDA graph), the runs after the first for the same {@code key} replay the
     * recording, one launch for all of its ops; the first runs as it is, so that what it allocates on first use
     * is there before anything is recorded.
     */
    void runRecorded(Object key, Runnable work);

    void free(T t);

    @Override
    void close();
}
