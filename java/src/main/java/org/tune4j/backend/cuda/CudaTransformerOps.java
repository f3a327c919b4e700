package org.tune4j.backend.cuda;

import static org.tune4j.backend.cuda.CudaBackend.check;
import static org.tune4j.backend.cuda.CudaBackend.count;
import static org.tune4j.backend.cuda.CudaBackend.matrix;
import static org.tune4j.backend.cuda.CudaBackend.type;

import org.tune4j.bindings.tune4j_cuda_h;

/**
 * The kernels a ViT training step needs beyond {@link CudaBackend}'s (kernels/src/vit.cu), queued on the
 * same stream: bias rows, strided row copies (the class tokens), a column gather (images into patches), token assembly, attention over short
 * sequences, and the global gradient norm for clipping, kept on the device. Arguments are checked
 * before any launch, with messages naming the argument.
 */
public final class CudaTransformerOps {
    private final CudaBackend gpu;

    public CudaTransformerOps(CudaBackend gpu) {
        this.gpu = gpu;
    }

    /** y [m, n] += bias [n] on every row */
    public void addBias(DeviceTensor bias, DeviceTensor y) {
        matrix("y", y);
        f32("y", y);
        count("bias", bias, y.dim(1));
        check(tune4j_cuda_h.t4j_cuda_add_bias(y.dim(0), y.dim(1), bias.pointer(), y.pointer(), gpu.stream()), "add_bias");
    }

    /** dst[i·ldd + j] = src[i·lds + j] for i < rows, j < cols (strides in elements) */
    public void copy2d(long rows, long cols, DeviceTensor src, long lds, DeviceTensor dst, long ldd) {
        f32("src", src);
        f32("dst", dst);
        if (rows < 0 || cols < 0 || lds < cols || ldd < cols) {
            throw new IllegalArgumentException("copy of " + rows + " x " + cols + " with strides " + lds + ", " + ldd + ": strides must be >= cols >= 0");
        }
        if (rows > 0 && ((rows - 1) * lds + cols > src.numel() || (rows - 1) * ldd + cols > dst.numel())) {
            throw new IllegalArgumentException(rows + " x " + cols + " rows at strides " + lds + ", " + ldd + " overrun src " + src + " or dst " + dst);
        }
        check(tune4j_cuda_h.t4j_cuda_copy_2d(rows, cols, src.pointer(), lds, dst.pointer(), ldd, gpu.stream()), "copy_2d");
    }

    /** dst [m, n]: dst[i, j] = src[i, index[j]], the same permutation of every row; index [n] I32, each in [0, n) (not checked on the device) */
    public void gatherColumns(DeviceTensor src, DeviceTensor index, DeviceTensor dst) {
        matrix("src", src);
        f32("src", src);
        f32("dst", dst);
        type("index", index, DeviceTensor.Type.I32);
        count("index", index, src.dim(1));
        count("dst", dst, src.numel());
        check(tune4j_cuda_h.t4j_cuda_gather_columns(src.dim(0), src.dim(1), src.pointer(), index.pointer(), dst.pointer(), gpu.stream()), "gather_columns");
    }

    /** x [batch·(p+1), d]: each sequence is cls [1, d] then its p rows of emb [batch·p, d], plus pos [p+1, d] */
    public void vitTokens(int batch, DeviceTensor emb, DeviceTensor cls, DeviceTensor pos, DeviceTensor x) {
        matrix("emb", emb);
        f32("emb", emb);
        long d = emb.dim(1);
        if (batch < 1 || emb.dim(0) % batch != 0) throw new IllegalArgumentException("emb " + emb + " is not " + batch + " sequences of patches");
        long p = emb.dim(0) / batch;
        count("cls", cls, d);
        count("pos", pos, (p + 1) * d);
        count("x", x, batch * (p + 1) * d);
        check(tune4j_cuda_h.t4j_cuda_vit_tokens(batch, p, d, emb.pointer(), cls.pointer(), pos.pointer(), x.pointer(), gpu.stream()), "vit_tokens");
    }

    /**
     * Self-attention of {@code batch} sequences: qkv [batch·seq, 3·d] (q | k | v, {@code heads} heads of d/heads
     * columns each) → out [batch·seq, d]; probs [batch·heads·seq·seq] saved for backward.
     */
    public void attentionForward(int batch, int heads, DeviceTensor qkv, float scale, DeviceTensor probs, DeviceTensor out) {
        long[] s = attentionShape(batch, heads, qkv);
        count("probs", probs, batch * heads * s[0] * s[0]);
        count("out", out, batch * s[0] * heads * s[1]);
        check(tune4j_cuda_h.t4j_cuda_attention_forward(batch, heads, s[0], s[1], qkv.pointer(), scale, probs.pointer(), out.pointer(), gpu.stream()),
                "attention_forward");
    }

    /** dqkv [batch·seq, 3·d] = the gradient of q | k | v from dout [batch·seq, d] (overwritten) */
    public void attentionBackward(int batch, int heads, DeviceTensor qkv, DeviceTensor probs, DeviceTensor dout, float scale, DeviceTensor dqkv) {
        long[] s = attentionShape(batch, heads, qkv);
        count("probs", probs, batch * heads * s[0] * s[0]);
        count("dout", dout, batch * s[0] * heads * s[1]);
        count("dqkv", dqkv, qkv.numel());
        check(tune4j_cuda_h.t4j_cuda_attention_backward(batch, heads, s[0], s[1], qkv.pointer(), probs.pointer(), dout.pointer(), scale, dqkv.pointer(),
                gpu.stream()), "attention_backward");
    }

    /** out [1] = Σ x² (a fixed order: the same bits every run) */
    public void sumSquares(DeviceTensor x, DeviceTensor out) {
        f32("x", x);
        count("out", out, 1);
        check(tune4j_cuda_h.t4j_cuda_sum_squares(x.numel(), x.pointer(), out.pointer(), gpu.stream()), "sum_squares");
    }

    /** scale [1] = clip_grad_norm_'s factor for the global norm √(Σ sums): maxNorm / (norm + 1e-6) when norm > maxNorm, else 1 */
    public void clipScale(DeviceTensor sums, float maxNorm, DeviceTensor scale) {
        f32("sums", sums);
        count("scale", scale, 1);
        if (!(maxNorm > 0)) throw new IllegalArgumentException("maxNorm must be > 0, is " + maxNorm);
        check(tune4j_cuda_h.t4j_cuda_clip_scale(sums.numel(), sums.pointer(), maxNorm, scale.pointer(), gpu.stream()), "clip_scale");
    }

    /** seq and head width of qkv, checked against the kernels' shared-memory bounds */
    private static long[] attentionShape(int batch, int heads, DeviceTensor qkv) {
        matrix("qkv", qkv);
        f32("qkv", qkv);
        if (batch < 1 || heads < 1 || qkv.dim(0) % batch != 0 || qkv.dim(1) % (3L * heads) != 0) {
            throw new IllegalArgumentException("qkv " + qkv + " is not " + batch + " sequences of q | k | v with " + heads + " heads");
        }
        long seq = qkv.dim(0) / batch, dh = qkv.dim(1) / (3L * heads);
        if (seq > tune4j_cuda_h.T4J_CUDA_ATTN_MAX_SEQ || dh > tune4j_cuda_h.T4J_CUDA_ATTN_MAX_HEAD_DIM) {
            throw new IllegalArgumentException("attention of " + seq + " tokens with heads of " + dh + ": the CUDA kernel takes at most "
                    + tune4j_cuda_h.T4J_CUDA_ATTN_MAX_SEQ + " tokens and heads of " + tune4j_cuda_h.T4J_CUDA_ATTN_MAX_HEAD_DIM);
        }
        return new long[] {seq, dh};
    }

    private static void f32(String name, DeviceTensor t) {
        type(name, t, DeviceTensor.Type.F32);
    }
}
