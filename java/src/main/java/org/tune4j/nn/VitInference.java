package org.tune4j.nn;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import org.tune4j.backend.Activation;
import org.tune4j.backend.Backend;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * The ViT's forward pass without a tape, for serving: every activation lives in a {@link Workspace} made
 * once for up to {@code maxBatch} images (with a view of each buffer for every batch size, so that a
 * request makes no objects), and each linear layer runs through {@link InferenceLayer} on whatever kernel
 * it was compressed to. Same arithmetic as {@link VisionTransformer#logits}, in the same order, except that
 * the final LayerNorm runs on the class tokens only (it is per row, so the result is the same).
 *
 * <p>Shapes for b images, P patches, S = P + 1 tokens, d wide: patches [b·P, patch²], tokens x [b·S, d],
 * qkv [b·S, 3d], MLP hidden [b·S, h], class tokens [b, d], logits [b, classes].
 */
public final class VitInference {
    private final VisionTransformer vit;
    private final List<InferenceLayer> layers = new ArrayList<>(); // patch_embed, (qkv, proj, fc1, fc2) per block, head
    private final Block[] blocks; // an array, not a list: iterating it makes no iterator object per request
    private final int[] patchIndex; // position in the image's patch matrix of each pixel

    public VitInference(VisionTransformer vit) {
        this.vit = vit;
        layers.add(vit.patchEmbed());
        for (Block b : vit.blocks()) {
            layers.add(b.attn().qkv());
            layers.add(b.attn().proj());
            layers.add(b.mlp().fc1());
            layers.add(b.mlp().fc2());
        }
        layers.add(vit.head());
        blocks = vit.blocks().toArray(new Block[0]);
        VisionTransformer.Config c = vit.config();
        int img = c.image(), p = c.patch(), per = img / p;
        patchIndex = new int[img * img];
        for (int r = 0; r < img; r++)
            for (int col = 0; col < img; col++) patchIndex[r * img + col] = ((r / p) * per + col / p) * p * p + (r % p) * p + col % p;
    }

    public int pixels() {
        return vit.config().image() * vit.config().image();
    }

    public int classes() {
        return vit.config().classes();
    }

    /** Buffers for one caller at a time, up to {@code maxBatch} images, in {@code arena}. */
    public Workspace workspace(Arena arena, int maxBatch) {
        if (maxBatch < 1) throw new IllegalArgumentException("maxBatch must be >= 1, is " + maxBatch);
        return new Workspace(arena, maxBatch);
    }

    /**
     * logits [batch, classes] of images [batch, pixels] (row-major f32, from {@code offset}) into {@code out},
     * using {@code ws}, which no other thread may use meanwhile. Inputs are the caller's to check.
     */
    public void logits(Backend backend, Workspace ws, float[] images, int offset, int batch, float[] out) {
        Views v = ws.views[batch - 1];
        VisionTransformer.Config c = vit.config();
        int pixels = pixels(), seq = c.patches() + 1;
        MemorySegment patches = v.patches.segment();
        for (int b = 0; b < batch; b++) {
            long base = (long) b * pixels;
            for (int j = 0; j < pixels; j++) patches.setAtIndex(ValueLayout.JAVA_FLOAT, base + patchIndex[j], images[offset + b * pixels + j]);
        }
        int layer = 0;
        layers.get(layer).infer(backend, v.patches, v.embedded, Activation.NONE, v.scratch[layer++]);
        long rowBytes = (long) c.dim() * 4;
        for (int b = 0; b < batch; b++) { // tokens: the class token, then the patches, plus the positions
            MemorySegment.copy(vit.clsToken().segment(), 0, v.x.segment(), (long) b * seq * rowBytes, rowBytes);
            MemorySegment.copy(v.embedded.segment(), (long) b * c.patches() * rowBytes, v.x.segment(), ((long) b * seq + 1) * rowBytes, c.patches() * rowBytes);
            backend.axpy(1f, vit.positions(), v.sequences[b]);
        }
        for (Block blk : blocks) {
            blk.norm1().infer(backend, v.x, v.normed, v.mean, v.rstd);
            layers.get(layer).infer(backend, v.normed, v.qkv, Activation.NONE, v.scratch[layer++]);
            backend.attentionForward(batch, blk.attn().heads(), v.q, v.k, v.values, v.attentionScale, null, v.probs, v.attended);
            layers.get(layer).infer(backend, v.attended, v.branch, Activation.NONE, v.scratch[layer++]);
            backend.axpy(1f, v.branch, v.x);
            blk.norm2().infer(backend, v.x, v.normed, v.mean, v.rstd);
            layers.get(layer).infer(backend, v.normed, v.hidden, Activation.GELU, v.scratch[layer++]);
            layers.get(layer).infer(backend, v.hidden, v.branch, Activation.NONE, v.scratch[layer++]);
            backend.axpy(1f, v.branch, v.x);
        }
        for (int b = 0; b < batch; b++) MemorySegment.copy(v.x.segment(), (long) b * seq * rowBytes, v.cls.segment(), b * rowBytes, rowBytes);
        vit.norm().infer(backend, v.cls, v.clsNormed, v.clsMean, v.clsRstd);
        layers.get(layer).infer(backend, v.clsNormed, v.logits, Activation.NONE, v.scratch[layer]);
        MemorySegment.copy(v.logits.segment(), ValueLayout.JAVA_FLOAT, 0, out, 0, batch * classes());
    }

    /** One caller's buffers: the largest batch's tensors, and views of them for every smaller batch. */
    public final class Workspace {
        private final Views[] views;

        private Workspace(Arena arena, int maxBatch) {
            Views largest = new Views(arena, maxBatch, null);
            views = new Views[maxBatch];
            views[maxBatch - 1] = largest;
            for (int b = 1; b < maxBatch; b++) views[b - 1] = new Views(arena, b, largest);
        }

        public int maxBatch() {
            return views.length;
        }
    }

    /** The buffers for one batch size: made fresh for the largest, as views of its memory for the others. */
    private final class Views {
        final Tensor patches, embedded, x, normed, mean, rstd, qkv, q, k, values, probs, attended, branch, hidden, cls, clsNormed, clsMean, clsRstd, logits;
        final Tensor[] sequences, scratch;
        final float attentionScale;

        Views(Arena arena, int batch, Views largest) {
            VisionTransformer.Config c = vit.config();
            long p = c.patches(), seq = p + 1, d = c.dim(), rows = batch * seq;
            patches = make(arena, largest == null ? null : largest.patches, batch * p, (long) c.patch() * c.patch());
            embedded = make(arena, largest == null ? null : largest.embedded, batch * p, d);
            x = make(arena, largest == null ? null : largest.x, rows, d);
            normed = make(arena, largest == null ? null : largest.normed, rows, d);
            mean = vector(arena, largest == null ? null : largest.mean, rows);
            rstd = vector(arena, largest == null ? null : largest.rstd, rows);
            qkv = make(arena, largest == null ? null : largest.qkv, rows, 3 * d);
            q = qkv.view(0, 0, rows, d);
            k = qkv.view(0, d, rows, d);
            values = qkv.view(0, 2 * d, rows, d);
            probs = vector(arena, largest == null ? null : largest.probs, (long) batch * c.heads() * seq * seq);
            attended = make(arena, largest == null ? null : largest.attended, rows, d);
            branch = make(arena, largest == null ? null : largest.branch, rows, d);
            hidden = make(arena, largest == null ? null : largest.hidden, rows, c.mlpHidden());
            cls = make(arena, largest == null ? null : largest.cls, batch, d);
            clsNormed = make(arena, largest == null ? null : largest.clsNormed, batch, d);
            clsMean = vector(arena, largest == null ? null : largest.clsMean, batch);
            clsRstd = vector(arena, largest == null ? null : largest.clsRstd, batch);
            logits = make(arena, largest == null ? null : largest.logits, batch, c.classes());
            sequences = new Tensor[batch];
            for (int b = 0; b < batch; b++) sequences[b] = x.view(b * seq, 0, seq, d);
            scratch = new Tensor[layers.size()];
            for (int i = 0; i < layers.size(); i++) {
                int r = layers.get(i).scratchColumns();
                long layerRows = i == 0 ? batch * p : i == layers.size() - 1 ? batch : rows;
                if (r > 0) scratch[i] = make(arena, largest == null ? null : largest.scratch[i], layerRows, r);
            }
            attentionScale = (float) (1 / Math.sqrt((double) d / c.heads()));
        }
    }

    /** A new vector of n values, or one over the first n values of {@code of}. */
    private static Tensor vector(Arena arena, Tensor of, long n) {
        if (of == null) return Tensor.zeros(arena, DType.F32, n);
        return Tensor.wrap(of.segment().asSlice(0, n * 4), DType.F32, n);
    }

    /** A new [rows, cols] tensor, or one over the first rows·cols values of {@code of} (same column count). */
    private static Tensor make(Arena arena, Tensor of, long rows, long cols) {
        if (of == null) return Tensor.zeros(arena, DType.F32, rows, cols);
        return Tensor.wrap(of.segment().asSlice(0, rows * cols * 4), DType.F32, rows, cols);
    }
}
