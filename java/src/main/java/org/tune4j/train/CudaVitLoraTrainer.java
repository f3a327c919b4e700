package org.tune4j.train;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.tune4j.autograd.Parameter;
import org.tune4j.backend.cuda.Cublas;
import org.tune4j.backend.cuda.CudaBackend;
import org.tune4j.backend.cuda.CudaTransformerOps;
import org.tune4j.backend.cuda.DeviceTensor;
import org.tune4j.nn.LoraLinear;
import org.tune4j.nn.Module;
import org.tune4j.nn.VisionTransformer;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * The main job's LoRA training step on a GPU: the ViT's forward and backward written out layer by layer
 * (llm.c's way, each layer's backward beside the forward it undoes) on device tensors, then global-norm
 * clipping and AdamW on the adapters, all queued on one stream: nothing waits for the host inside a step.
 * The math is the tape's ({@link VisionTransformer#logits}, {@link LoraLinear}, {@link Trainer}'s step), so a
 * step here and a step there agree to rounding (CudaVitLoraTrainerTest). f32 throughout, IEEE or TF32 GEMMs.
 *
 * <p>It takes a ViT whose only trainable parameters are LoRA adapters (dropout 0) on every block's qkv,
 * proj, fc1 and fc2, the main job's setting; anything else is refused with a message. Shapes: B images
 * of P patches of pp pixels, S = P + 1 tokens, T = B·S rows, width d, H heads, MLP width f, C classes,
 * rank r.
 */
public final class CudaVitLoraTrainer implements AutoCloseable {
    private static final String[] TARGETS = {"attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2"};
    private static final int QKV = 0, PROJ = 1, FC1 = 2, FC2 = 3;

    /** A frozen linear layer with its adapter, on the device: y = x Wᵀ + b + s (x Aᵀ) Bᵀ. */
    private final class Adapter {
        final DeviceTensor w, b, a, bMat, gradA, gradB, mA, vA, mB, vB;
        final float scale;
        final LoraLinear host;

        Adapter(LoraLinear l) {
            host = l;
            w = up(l.base().weight().value());
            b = up(l.base().bias().value());
            a = up(l.loraA().value());
            bMat = up(l.loraB().value());
            scale = l.scale();
            gradA = zeros(a.shape());
            gradB = zeros(bMat.shape());
            mA = zeros(a.shape());
            vA = zeros(a.shape());
            mB = zeros(bMat.shape());
            vB = zeros(bMat.shape());
        }

        /** y [T, out] = x Wᵀ + b + s h Bᵀ with h [T, r] = x Aᵀ kept for backward */
        void forward(DeviceTensor x, DeviceTensor h, DeviceTensor y) {
            blas.gemm(false, true, 1f, x, w, 0f, y, precision);
            ops.addBias(b, y);
            blas.gemm(false, true, 1f, x, a, 0f, h, precision);
            blas.gemm(false, true, scale, h, bMat, 1f, y, precision);
        }

        /** From dy [T, out]: dB = s dyᵀ h, dh = s dy B, dA = dhᵀ x (overwritten), dx [T, in] = dy W + dh A (overwritten) */
        void backward(DeviceTensor x, DeviceTensor h, DeviceTensor dy, DeviceTensor dh, DeviceTensor dx) {
            blas.gemm(true, false, scale, dy, h, 0f, gradB, precision);
            blas.gemm(false, false, scale, dy, bMat, 0f, dh, precision);
            blas.gemm(true, false, 1f, dh, x, 0f, gradA, precision);
            if (dx == null) return;
            blas.gemm(false, false, 1f, dy, w, 0f, dx, precision);
            blas.gemm(false, false, 1f, dh, a, 1f, dx, precision);
        }
    }

    /** One block's frozen LayerNorms, its adapters, and what its forward keeps for backward. */
    private final class Block {
        final DeviceTensor g1, be1, g2, be2;
        final Adapter[] lin = new Adapter[4];
        final DeviceTensor x, ln1, mean1, rstd1, qkv, hQkv, probs, att, hProj, h1, ln2, mean2, rstd2, f1, hFc1, g, hFc2;

        Block(Map<String, Parameter> p, Map<String, Module> modules, String prefix) {
            g1 = up(p.get(prefix + "norm1.weight").value());
            be1 = up(p.get(prefix + "norm1.bias").value());
            g2 = up(p.get(prefix + "norm2.weight").value());
            be2 = up(p.get(prefix + "norm2.bias").value());
            for (int i = 0; i < 4; i++) lin[i] = new Adapter((LoraLinear) modules.get(prefix + TARGETS[i]));
            x = act(d);
            ln1 = act(d);
            mean1 = empty(rows);
            rstd1 = empty(rows);
            qkv = act(3 * d);
            hQkv = act(r);
            probs = empty((long) batch * heads * seq * seq);
            att = act(d);
            hProj = act(r);
            h1 = act(d);
            ln2 = act(d);
            mean2 = empty(rows);
            rstd2 = empty(rows);
            f1 = act(hidden);
            hFc1 = act(r);
            g = act(hidden);
            hFc2 = act(r);
        }

        /** out [T, d] = h1 + fc2(GELU(fc1(LN2(h1)))), h1 = x + proj(attention(qkv(LN1(x)))); x must hold the input */
        void forward(DeviceTensor out) {
            gpu.layerNormForward(x, g1, be1, EPS, ln1, mean1, rstd1);
            lin[QKV].forward(ln1, hQkv, qkv);
            ops.attentionForward(batch, heads, qkv, attentionScale, probs, att);
            lin[PROJ].forward(att, hProj, tmpD);
            gpu.add(x, tmpD, h1);
            gpu.layerNormForward(h1, g2, be2, EPS, ln2, mean2, rstd2);
            lin[FC1].forward(ln2, hFc1, f1);
            gpu.geluForward(f1, g);
            lin[FC2].forward(g, hFc2, tmpD);
            gpu.add(h1, tmpD, out);
        }

        /** From dOut [T, d] (the gradient of the block's output): the adapters' gradients, and dOut becomes the gradient of x unless first */
        void backward(DeviceTensor dOut, boolean first) {
            lin[FC2].backward(g, hFc2, dOut, dR, dF);                  // dF = d GELU output
            gpu.zero(dF2);
            gpu.geluBackward(f1, dF, dF2);                              // dF2 = d fc1 output
            lin[FC1].backward(ln2, hFc1, dF2, dR, dLn);                 // dLn = d LN2 output
            gpu.copy(dOut, dH1);
            gpu.layerNormBackward(h1, g2, mean2, rstd2, dLn, dH1, null, null); // dH1 = dOut + LN2's input gradient
            lin[PROJ].backward(att, hProj, dH1, dR, tmpD);              // tmpD = d attention output
            ops.attentionBackward(batch, heads, qkv, probs, tmpD, attentionScale, dQkv);
            lin[QKV].backward(ln1, hQkv, dQkv, dR, first ? null : dLn);
            if (first) return;
            gpu.copy(dH1, dOut);
            gpu.layerNormBackward(x, g1, mean1, rstd1, dLn, dOut, null, null);
        }
    }

    private static final float EPS = 1e-5f; // nn.LayerNorm's
    private final CudaBackend gpu;
    private final Cublas blas;
    private final CudaTransformerOps ops;
    private final Cublas.Precision precision;
    private final int batch, patches, patchPixels, seq, d, heads, hidden, classes, r;
    private final long rows;
    private final float attentionScale, loraPlusRatio, maxGradNorm;
    private final int pixels;
    private final Arena hostArena = Arena.ofShared();
    private final Tensor hostLoss;
    private final DeviceTensor imagesIn, pixelOf, patchesIn, labels, wEmbed, bEmbed, cls, pos, emb, gNorm, bNorm, wHead, bHead;
    private final DeviceTensor xTop, lnTop, meanTop, rstdTop, clsRows, logits, probs, losses, loss;
    private final DeviceTensor dLogits, dCls, dLnTop, dX, dH1, dLn, dF, dF2, dQkv, dR, tmpD, sums, clipScale;
    private final List<Block> blocks = new ArrayList<>();
    private final List<DeviceTensor> grads = new ArrayList<>();
    private final List<DeviceTensor> owned = new ArrayList<>(); // everything this trainer allocated, freed by close
    private long steps;

    /**
     * Copies {@code vit}'s weights and adapters to {@code gpu} for steps of {@code batch} images; LoRA+ gives
     * lora_B {@code loraPlusRatio} times the learning rate; {@code maxGradNorm} > 0 clips the adapters'
     * gradients to that global norm (0: no clipping).
     */
    public CudaVitLoraTrainer(CudaBackend gpu, VisionTransformer vit, int batch, float loraPlusRatio, float maxGradNorm, Cublas.Precision precision) {
        if (batch < 1) throw new IllegalArgumentException("batch must be >= 1, is " + batch);
        if (!(maxGradNorm >= 0)) throw new IllegalArgumentException("maxGradNorm must be >= 0, is " + maxGradNorm);
        checkOnlyAdaptersTrain(vit);
        this.gpu = gpu;
        this.blas = Cublas.open(gpu);
        this.ops = new CudaTransformerOps(gpu);
        this.precision = precision;
        VisionTransformer.Config c = vit.config();
        this.batch = batch;
        this.patches = c.patches();
        this.patchPixels = c.patch() * c.patch();
        this.seq = patches + 1;
        this.d = c.dim();
        this.heads = c.heads();
        this.hidden = c.mlpHidden();
        this.classes = c.classes();
        this.rows = (long) batch * seq;
        this.attentionScale = (float) (1 / Math.sqrt((double) d / heads));
        this.loraPlusRatio = loraPlusRatio;
        this.maxGradNorm = maxGradNorm;
        Map<String, Parameter> p = vit.namedParameters();
        Map<String, Module> modules = vit.namedModules();
        this.r = (int) ((LoraLinear) modules.get("blocks.0.attn.qkv")).loraA().value().dim(0);

        pixels = c.image() * c.image();
        hostLoss = Tensor.zeros(hostArena, DType.F32, 1);
        imagesIn = empty(batch, pixels);
        pixelOf = up(pixelOfPatchPosition(hostArena, c.image(), c.patch()));
        patchesIn = empty((long) batch * patches, patchPixels);
        labels = own(gpu.empty(DeviceTensor.Type.I32, batch));
        wEmbed = up(p.get("patch_embed.weight").value());
        bEmbed = up(p.get("patch_embed.bias").value());
        cls = up(p.get("cls_token").value());
        pos = up(p.get("pos_embed").value());
        gNorm = up(p.get("norm.weight").value());
        bNorm = up(p.get("norm.bias").value());
        wHead = up(p.get("head.weight").value());
        bHead = up(p.get("head.bias").value());
        emb = empty((long) batch * patches, d);
        xTop = act(d);
        lnTop = act(d);
        meanTop = empty(rows);
        rstdTop = empty(rows);
        clsRows = empty(batch, d);
        logits = empty(batch, classes);
        probs = empty(batch, classes);
        losses = empty(batch);
        loss = empty(1);
        dLogits = empty(batch, classes);
        dCls = empty(batch, d);
        dLnTop = act(d);
        dX = act(d);
        dH1 = act(d);
        dLn = act(d);
        dF = act(hidden);
        dF2 = act(hidden);
        dQkv = act(3 * d);
        dR = act(r);
        tmpD = act(d);
        for (int i = 0; i < c.depth(); i++) blocks.add(new Block(p, modules, "blocks." + i + "."));
        for (Block b : blocks)
            for (Adapter a : b.lin) {
                grads.add(a.gradA);
                grads.add(a.gradB);
            }
        sums = zeros(grads.size(), 1);
        clipScale = zeros(1);
    }

    /** Forward and backward of one batch (images [B, H·W], labels [B] I32): the adapters' gradients, not applied. */
    public void computeGradients(Tensor images, Tensor batchLabels) {
        upload(images, batchLabels);
        ops.gatherColumns(imagesIn, pixelOf, patchesIn.reshape(batch, pixels)); // as VisionTransformer.patchify
        // forward: tokens, blocks, final LayerNorm on every row, the head on the class tokens
        blas.gemm(false, true, 1f, patchesIn, wEmbed, 0f, emb, precision);
        ops.addBias(bEmbed, emb);
        ops.vitTokens(batch, emb, cls, pos, blocks.get(0).x);
        for (int i = 0; i < blocks.size(); i++) blocks.get(i).forward(i + 1 < blocks.size() ? blocks.get(i + 1).x : xTop);
        gpu.layerNormForward(xTop, gNorm, bNorm, EPS, lnTop, meanTop, rstdTop);
        ops.copy2d(batch, d, lnTop, (long) seq * d, clsRows, d);
        blas.gemm(false, true, 1f, clsRows, wHead, 0f, logits, precision);
        ops.addBias(bHead, logits);
        gpu.crossEntropyForward(logits, labels, 0f, probs, losses);
        gpu.sum(losses, loss);
        // backward: the mean loss's gradient down to the first block's adapters
        gpu.zero(dLogits);
        gpu.crossEntropyBackward(probs, labels, 0f, 1f / batch, dLogits);
        blas.gemm(false, false, 1f, dLogits, wHead, 0f, dCls, precision);
        gpu.zero(dLnTop);
        ops.copy2d(batch, d, dCls, d, dLnTop, (long) seq * d);
        gpu.zero(dX);
        gpu.layerNormBackward(xTop, gNorm, meanTop, rstdTop, dLnTop, dX, null, null);
        for (int i = blocks.size() - 1; i >= 0; i--) blocks.get(i).backward(dX, i == 0);
    }

    /** One training step at learning rate {@code lr} (lora_B at lr × the LoRA+ ratio): gradients, clipping, AdamW. */
    public void step(Tensor images, Tensor batchLabels, float lr) {
        computeGradients(images, batchLabels);
        DeviceTensor scale = null;
        if (maxGradNorm > 0) {
            for (int i = 0; i < grads.size(); i++) ops.sumSquares(grads.get(i), sums.rows(i, 1));
            ops.clipScale(sums, maxGradNorm, clipScale);
            scale = clipScale;
        }
        steps++;
        for (Block b : blocks)
            for (Adapter a : b.lin) {
                adamw(a.a, a.gradA, scale, a.mA, a.vA, lr);
                adamw(a.bMat, a.gradB, scale, a.mB, a.vB, lr * loraPlusRatio);
            }
    }

    /** The last batch's mean loss (waits for the GPU). */
    public float loss() {
        gpu.download(loss, hostLoss);
        return hostLoss.getFloat(0) / batch;
    }

    /** The adapters' gradients from the last {@link #computeGradients}, by parameter name (waits for the GPU). */
    public Map<String, float[]> gradients() {
        Map<String, float[]> out = new java.util.LinkedHashMap<>();
        for (int i = 0; i < blocks.size(); i++)
            for (int t = 0; t < 4; t++) {
                Adapter a = blocks.get(i).lin[t];
                String name = "blocks." + i + "." + TARGETS[t] + ".";
                out.put(name + "lora_A", download(a.gradA));
                out.put(name + "lora_B", download(a.gradB));
            }
        return out;
    }

    /** Copies the trained adapters back into the ViT this trainer was made from (waits for the GPU). */
    public void copyAdaptersBack() {
        for (Block b : blocks)
            for (Adapter a : b.lin) {
                gpu.download(a.a, a.host.loraA().value());
                gpu.download(a.bMat, a.host.loraB().value());
            }
    }

    public long steps() {
        return steps;
    }

    private void adamw(DeviceTensor param, DeviceTensor grad, DeviceTensor scale, DeviceTensor m, DeviceTensor v, float lr) {
        // LoRA parameters take no weight decay (AdamW's rule for "lora_" names); PyTorch's betas and eps
        if (scale != null) gpu.adamwStep(param, grad, scale, m, v, lr, 0.9f, 0.999f, 1e-8f, 0f, steps);
        else gpu.adamwStep(param, grad, m, v, lr, 0.9f, 0.999f, 1e-8f, 0f, steps);
    }

    /** Images [B, H·W] and labels [B] to the device, checked first. */
    private void upload(Tensor images, Tensor batchLabels) {
        if (images == null || images.rank() != 2 || images.dim(0) != batch || images.dim(1) != pixels || images.dtype() != DType.F32 || !images.isContiguous()) {
            throw new IllegalArgumentException("images must be a contiguous F32 [" + batch + ", " + pixels + "] tensor, are " + images);
        }
        if (batchLabels == null || batchLabels.dtype() != DType.I32 || batchLabels.numel() != batch || !batchLabels.isContiguous()) {
            throw new IllegalArgumentException("labels must be a contiguous I32 [" + batch + "] tensor, are " + batchLabels);
        }
        for (int b = 0; b < batch; b++) {
            int label = batchLabels.getInt(b);
            if (label < 0 || label >= classes) throw new IllegalArgumentException("label " + label + " of image " + b + " is not in [0, " + classes + ")");
        }
        gpu.upload(images, imagesIn);
        gpu.upload(batchLabels, labels);
    }

    private float[] download(DeviceTensor t) {
        try (Arena arena = Arena.ofConfined()) {
            Tensor host = Tensor.zeros(arena, DType.F32, t.numel());
            gpu.download(t, host);
            return host.toFloatArray();
        }
    }

    private DeviceTensor act(long cols) {
        return empty(rows, cols);
    }

    private DeviceTensor empty(long... shape) {
        return own(gpu.empty(DeviceTensor.Type.F32, shape));
    }

    private DeviceTensor zeros(long... shape) {
        return own(gpu.zeros(DeviceTensor.Type.F32, shape));
    }

    private DeviceTensor up(Tensor host) {
        return own(gpu.upload(host));
    }

    private DeviceTensor own(DeviceTensor t) {
        owned.add(t);
        return t;
    }

    /** For each position of an image's patch matrix [P, pp] (row-major patches of row-major pixels), the pixel it holds. */
    private static Tensor pixelOfPatchPosition(Arena arena, int image, int patch) {
        int per = image / patch;
        Tensor index = Tensor.zeros(arena, DType.I32, (long) image * image);
        for (int y = 0; y < image; y++)
            for (int x = 0; x < image; x++) index.setInt((long) ((y / patch) * per + x / patch) * patch * patch + (y % patch) * patch + x % patch, y * image + x);
        return index;
    }

    /** Refuses a ViT where anything but LoRA adapters (one rank, no dropout) on every block's qkv, proj, fc1, fc2 trains. */
    static void checkOnlyAdaptersTrain(VisionTransformer vit) {
        Map<String, Module> modules = vit.namedModules();
        long rank = -1;
        for (int i = 0; i < vit.config().depth(); i++)
            for (String t : TARGETS) {
                String path = "blocks." + i + "." + t;
                if (!(modules.get(path) instanceof LoraLinear l) || l.merged()) {
                    throw new IllegalArgumentException("the GPU step trains LoRA adapters on every block's qkv, proj, fc1 and fc2: " + path + " has none");
                }
                if (l.dropout() != 0) throw new IllegalArgumentException("the GPU step has no LoRA dropout: " + path + " has " + l.dropout());
                if (l.base().bias() == null) throw new IllegalArgumentException("the GPU step expects biased linear layers: " + path + " has no bias");
                long r = l.loraA().value().dim(0);
                if (rank >= 0 && r != rank) throw new IllegalArgumentException("the GPU step takes one LoRA rank: " + path + " has " + r + ", others " + rank);
                rank = r;
            }
        vit.namedParameters().forEach((name, param) -> {
            if (param.trainable() && !name.endsWith("lora_A") && !name.endsWith("lora_B")) {
                throw new IllegalArgumentException("the GPU step trains LoRA adapters only: " + name + " is trainable too");
            }
        });
    }

    @Override
    public void close() {
        blas.close();
        owned.forEach(DeviceTensor::close);
        owned.clear();
        hostArena.close();
    }
}
