package org.tune4j.train;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.tune4j.autograd.Parameter;
import org.tune4j.backend.Backend;
import org.tune4j.backend.cuda.Cublas;
import org.tune4j.backend.cuda.CudaBackend;
import org.tune4j.backend.cuda.DeviceTensor;
import org.tune4j.nn.Linear;
import org.tune4j.nn.LoraLinear;
import org.tune4j.nn.Module;
import org.tune4j.nn.VisionTransformer;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * The main job's LoRA training step without the tape: the ViT's forward and backward written out layer by
 * layer (llm.c's way, each layer's backward beside the forward it undoes), then global-norm clipping and
 * AdamW with LoRA+ on the adapters. Written once over {@link VitStepOps}: {@link #onGpu} runs it on device
 * tensors, every op queued on one stream (nothing waits for the host inside a step); {@link #onHost}
 * runs the same code on host tensors, where VitLoraStepTest checks it against the tape. The math is the
 * tape's ({@link VisionTransformer#logits}, {@link LoraLinear}, {@link Trainer}'s step).
 *
 * <p>It takes a ViT whose only trainable parameters are LoRA adapters (one rank, dropout 0) on every
 * block's qkv, proj, fc1 and fc2, the main job's setting; anything else is refused with a message.
 * Shapes: B images of P patches of pp pixels, S = P + 1 tokens, T = B·S rows, width d, H heads, MLP
 * width f, C classes, rank r.
 */
public final class VitLoraStep<X> implements AutoCloseable {
    private static final String[] TARGETS = {"attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2"};
    private static final int QKV = 0, PROJ = 1, FC1 = 2, FC2 = 3;
    private static final float EPS = 1e-5f; // nn.LayerNorm's

    /**
     * A frozen linear layer with its adapter, shared by the steps of every batch size: y = x Wᵀ + b + s (x Aᵀ) Bᵀ.
     * A step made for inference also takes layers without one (a plain or merged layer): y = x Wᵀ + b.
     */
    private static final class Adapter<X> {
        final VitStepOps<X> ops;
        final X w, b, a, bMat, gradA, gradB, mA, vA, mB, vB; // a and everything after it null without an adapter
        final float scale;
        final LoraLinear host;

        Adapter(Shared<X> sh, Module layer) {
            ops = sh.ops;
            host = layer instanceof LoraLinear l && !l.merged() ? l : null;
            Linear base = layer instanceof LoraLinear l ? l.base() : (Linear) layer;
            w = sh.up(base.weight().value());
            b = sh.up(base.bias().value());
            if (host == null) {
                a = bMat = gradA = gradB = mA = vA = mB = vB = null;
                scale = 0;
                return;
            }
            a = sh.up(host.loraA().value());
            bMat = sh.up(host.loraB().value());
            scale = host.scale();
            long[] shapeA = host.loraA().value().shape(), shapeB = host.loraB().value().shape();
            gradA = sh.zeros(shapeA);
            gradB = sh.zeros(shapeB);
            mA = sh.zeros(shapeA);
            vA = sh.zeros(shapeA);
            mB = sh.zeros(shapeB);
            vB = sh.zeros(shapeB);
        }

        /** y [T, out] = x Wᵀ + b + s h Bᵀ with h [T, r] = x Aᵀ kept for backward */
        void forward(X x, X h, X y) {
            ops.gemm(false, true, 1f, x, w, 0f, y);
            ops.addBias(b, y);
            if (a == null) return;
            ops.gemm(false, true, 1f, x, a, 0f, h);
            ops.gemm(false, true, scale, h, bMat, 1f, y);
        }

        /** From dy [T, out]: dB = s dyᵀ h, dh = s dy B, dA = dhᵀ x; dx [T, in] = dy W + dh A unless null (all overwritten) */
        void backward(X x, X h, X dy, X dh, X dx) {
            if (a != null) {
                ops.gemm(true, false, scale, dy, h, 0f, gradB);
                ops.gemm(false, false, scale, dy, bMat, 0f, dh);
                ops.gemm(true, false, 1f, dh, x, 0f, gradA);
            }
            if (dx == null) return;
            ops.gemm(false, false, 1f, dy, w, 0f, dx);
            if (a != null) ops.gemm(false, false, 1f, dh, a, 1f, dx);
        }
    }

    /** One block's frozen LayerNorms and its adapters, shared by the steps of every batch size. */
    private static final class BlockWeights<X> {
        final X g1, be1, g2, be2;
        final List<Adapter<X>> lin = new ArrayList<>();

        BlockWeights(Shared<X> sh, Map<String, Parameter> p, Map<String, Module> modules, String prefix) {
            g1 = sh.up(p.get(prefix + "norm1.weight").value());
            be1 = sh.up(p.get(prefix + "norm1.bias").value());
            g2 = sh.up(p.get(prefix + "norm2.weight").value());
            be2 = sh.up(p.get(prefix + "norm2.bias").value());
            for (String t : TARGETS) lin.add(new Adapter<>(sh, modules.get(prefix + t)));
        }
    }

    /** One block at this step's batch: its weights, and what its forward keeps for backward. */
    private final class Block {
        final X g1, be1, g2, be2;
        final List<Adapter<X>> lin;
        final X x, ln1, mean1, rstd1, qkv, hQkv, probs, att, hProj, h1, ln2, mean2, rstd2, f1, hFc1, g, hFc2;

        Block(BlockWeights<X> wts) {
            g1 = wts.g1;
            be1 = wts.be1;
            g2 = wts.g2;
            be2 = wts.be2;
            lin = wts.lin;
            x = act(d);
            ln1 = act(d);
            mean1 = empty(rows);
            rstd1 = empty(rows);
            qkv = act(3L * d);
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
        void forward(X out) {
            ops.layerNormForward(x, g1, be1, EPS, ln1, mean1, rstd1);
            lin.get(QKV).forward(ln1, hQkv, qkv);
            ops.attentionForward(batch, heads, qkv, attentionScale, probs, att);
            lin.get(PROJ).forward(att, hProj, tmpD);
            ops.add(x, tmpD, h1);
            ops.layerNormForward(h1, g2, be2, EPS, ln2, mean2, rstd2);
            lin.get(FC1).forward(ln2, hFc1, f1);
            ops.geluForward(f1, g);
            lin.get(FC2).forward(g, hFc2, tmpD);
            ops.add(h1, tmpD, out);
        }

        /** From dOut [T, d], the gradient of the block's output: the adapters' gradients; dOut becomes the gradient of x unless first */
        void backward(X dOut, boolean first) {
            lin.get(FC2).backward(g, hFc2, dOut, dR, dF);                // dF = d GELU output
            ops.zero(dF2);
            ops.geluBackward(f1, dF, dF2);                                // dF2 = d fc1 output
            lin.get(FC1).backward(ln2, hFc1, dF2, dR, dLn);               // dLn = d LN2 output
            ops.copy(dOut, dH1);
            ops.layerNormBackwardInput(h1, g2, mean2, rstd2, dLn, dH1);   // dH1 = dOut + LN2's input gradient
            lin.get(PROJ).backward(att, hProj, dH1, dR, tmpD);            // tmpD = d attention output
            ops.attentionBackward(batch, heads, qkv, probs, tmpD, attentionScale, dQkv);
            lin.get(QKV).backward(ln1, hQkv, dQkv, dR, first ? null : dLn);
            if (first) return;
            ops.copy(dH1, dOut);
            ops.layerNormBackwardInput(x, g1, mean1, rstd1, dLn, dOut);
        }
    }

    /** What the steps of every batch size share: the ops, the frozen weights, the adapters and their optimizer state. */
    private static final class Shared<X> {
        final VitStepOps<X> ops;
        final VisionTransformer.Config config;
        final int r;
        final float attentionScale, loraPlusRatio, maxGradNorm;
        final boolean trains; // false: made for inference (logits and input gradients), step refused
        final Arena hostArena = Arena.ofShared();
        final List<X> owned = new ArrayList<>();
        final Map<Integer, VitLoraStep<X>> byBatch = new LinkedHashMap<>();
        final X pixelOf, patchPositionOf, wEmbed, bEmbed, cls, pos, gNorm, bNorm, wHead, bHead, sums, clipScale;
        final List<BlockWeights<X>> blocks = new ArrayList<>();
        final List<X> grads = new ArrayList<>();
        long steps;

        Shared(VitStepOps<X> ops, VisionTransformer vit, float loraPlusRatio, float maxGradNorm, boolean trains) {
            this.ops = ops;
            this.trains = trains;
            this.config = vit.config();
            this.loraPlusRatio = loraPlusRatio;
            this.maxGradNorm = maxGradNorm;
            this.attentionScale = (float) (1 / Math.sqrt((double) config.dim() / config.heads()));
            Map<String, Parameter> p = vit.namedParameters();
            Map<String, Module> modules = vit.namedModules();
            r = rank(vit);
            Tensor pixelOfPosition = pixelOfPatchPosition(hostArena, config.image(), config.patch());
            pixelOf = up(pixelOfPosition);
            patchPositionOf = up(inverse(hostArena, pixelOfPosition));
            wEmbed = up(p.get("patch_embed.weight").value());
            bEmbed = up(p.get("patch_embed.bias").value());
            cls = up(p.get("cls_token").value());
            pos = up(p.get("pos_embed").value());
            gNorm = up(p.get("norm.weight").value());
            bNorm = up(p.get("norm.bias").value());
            wHead = up(p.get("head.weight").value());
            bHead = up(p.get("head.bias").value());
            for (int i = 0; i < config.depth(); i++) blocks.add(new BlockWeights<>(this, p, modules, "blocks." + i + "."));
            for (BlockWeights<X> b : blocks)
                for (Adapter<X> a : b.lin) {
                    if (a.host == null) continue;
                    grads.add(a.gradA);
                    grads.add(a.gradB);
                }
            sums = zeros(Math.max(1, grads.size()), 1);
            clipScale = zeros(1);
        }

        X up(Tensor host) {
            X t = ops.upload(host);
            owned.add(t);
            return t;
        }

        X zeros(long... shape) {
            X t = ops.empty(shape);
            owned.add(t);
            ops.zero(t);
            return t;
        }

        VitLoraStep<X> stepFor(int batch) {
            return byBatch.computeIfAbsent(batch, b -> new VitLoraStep<>(this, b));
        }
    }

    private final Shared<X> sh;
    private final VitStepOps<X> ops;
    private final int batch, patches, patchPixels, pixels, seq, d, heads, hidden, classes, r;
    private final long rows;
    private final float attentionScale;
    private final Tensor hostLoss;
    private final List<X> owned = new ArrayList<>(); // this batch size's activations, freed by close
    private final X imagesIn, patchesIn, labels, emb, xTop, lnTop, meanTop, rstdTop, clsRows, logits, probs, lossSum;
    private final X dLogits, dCls, dLnTop, dX, dH1, dLn, dF, dF2, dQkv, dR, tmpD;
    private X dEmb, dPatches, dImages; // the input gradient's, allocated by its first call
    private long forwards; // forward passes so far: an input gradient must follow the forward it undoes
    private final List<Block> blocks = new ArrayList<>();

    /**
     * The step on a GPU for batches of {@code batch} images (and {@link #withBatch} for others), GEMMs at
     * {@code precision}; lora_B learns at {@code loraPlusRatio} times the learning rate (LoRA+);
     * {@code maxGradNorm} > 0 clips the adapters' gradients to that global norm (0: no clipping).
     */
    public static VitLoraStep<DeviceTensor> onGpu(CudaBackend gpu, VisionTransformer vit, int batch, float loraPlusRatio, float maxGradNorm,
            Cublas.Precision precision) {
        checkOnlyAdaptersTrain(vit);
        checkClipping(maxGradNorm);
        return new Shared<>(new CudaVitStepOps(gpu, precision), vit, loraPlusRatio, maxGradNorm, true).stepFor(batch);
    }

    /**
     * The forward and the input gradient on a GPU ({@link #logits}, {@link #inputGradient}; {@link #step} refused)
     * of any f32 ViT: its LoRA adapters unmerged or merged, or none; a snapshot of its weights now.
     */
    public static VitLoraStep<DeviceTensor> forInferenceOnGpu(CudaBackend gpu, VisionTransformer vit, int batch, Cublas.Precision precision) {
        checkInferable(vit);
        return new Shared<>(new CudaVitStepOps(gpu, precision), vit, 1f, 0f, false).stepFor(batch);
    }

    /** {@link #forInferenceOnGpu} on host tensors through {@code backend}: its oracle, checked against the tape. */
    public static VitLoraStep<Tensor> forInferenceOnHost(Backend backend, VisionTransformer vit, int batch) {
        checkInferable(vit);
        return new Shared<>(new HostVitStepOps(backend), vit, 1f, 0f, false).stepFor(batch);
    }

    /** The same step on host tensors through {@code backend} (the GPU step's oracle, and a tape-free CPU step). */
    public static VitLoraStep<Tensor> onHost(Backend backend, VisionTransformer vit, int batch, float loraPlusRatio, float maxGradNorm) {
        checkOnlyAdaptersTrain(vit);
        checkClipping(maxGradNorm);
        return new Shared<>(new HostVitStepOps(backend), vit, loraPlusRatio, maxGradNorm, true).stepFor(batch);
    }

    /** The step for batches of {@code b} images over the same weights, adapters and optimizer state (a partial last batch). */
    public VitLoraStep<X> withBatch(int b) {
        return sh.stepFor(b);
    }

    private VitLoraStep(Shared<X> sh, int batch) {
        if (batch < 1) throw new IllegalArgumentException("batch must be >= 1, is " + batch);
        this.sh = sh;
        this.ops = sh.ops;
        VisionTransformer.Config c = sh.config;
        this.batch = batch;
        this.patches = c.patches();
        this.patchPixels = c.patch() * c.patch();
        this.pixels = c.image() * c.image();
        this.seq = patches + 1;
        this.d = c.dim();
        this.heads = c.heads();
        this.hidden = c.mlpHidden();
        this.classes = c.classes();
        this.r = sh.r;
        this.rows = (long) batch * seq;
        this.attentionScale = sh.attentionScale;
        hostLoss = Tensor.zeros(sh.hostArena, DType.F32, 1);
        imagesIn = empty(batch, pixels);
        patchesIn = empty((long) batch * patches, patchPixels);
        labels = own(ops.emptyInts(batch));
        emb = empty((long) batch * patches, d);
        xTop = act(d);
        lnTop = act(d);
        meanTop = empty(rows);
        rstdTop = empty(rows);
        clsRows = empty(batch, d);
        logits = empty(batch, classes);
        probs = empty(batch, classes);
        lossSum = empty(1);
        dLogits = empty(batch, classes);
        dCls = empty(batch, d);
        dLnTop = act(d);
        dX = act(d);
        dH1 = act(d);
        dLn = act(d);
        dF = act(hidden);
        dF2 = act(hidden);
        dQkv = act(3L * d);
        dR = act(r);
        tmpD = act(d);
        for (BlockWeights<X> w : sh.blocks) blocks.add(new Block(w));
    }

    /** Forward and backward of one batch (images [B, H·W] F32, labels [B] I32): the adapters' gradients, not applied. */
    public void computeGradients(Tensor images, Tensor batchLabels) {
        checkLabels(batchLabels);
        upload(images);
        ops.upload(batchLabels, labels);
        forward();
        ops.crossEntropyForward(logits, labels, probs, lossSum);
        ops.zero(dLogits);
        ops.crossEntropyBackwardMean(probs, labels, dLogits); // the mean loss's gradient
        backward(false);
    }

    /** Logits [B, C] of images [B, H·W] into the host tensor {@code out} (waits for them); {@link #inputGradient} may follow. */
    public void logits(Tensor images, Tensor out) {
        if (out == null || out.dtype() != DType.F32 || out.numel() != (long) batch * classes || !out.isContiguous()) {
            throw new IllegalArgumentException("logits go into a contiguous F32 [" + batch + ", " + classes + "] tensor, not " + out);
        }
        upload(images);
        forward();
        ops.download(logits, out);
    }

    /**
     * The gradient with respect to the images of the last {@link #logits} call, {@code dImages} [B, H·W] =
     * (∂logits/∂images)ᵀ dLogits [B, C] (host tensors; waits for it). The adapters' gradients are overwritten
     * on the way (the same backward as a step's), nothing is applied. {@code forward} is the number
     * {@link #forwards} gave right after that call: another forward in between is refused, since this step
     * keeps one forward's activations.
     */
    public void inputGradient(long forward, Tensor dLogitsIn, Tensor dImagesOut) {
        if (forward != forwards) {
            throw new IllegalStateException("the input gradient of forward " + forward + " was asked after forward " + forwards
                    + " of the same batch size: the step keeps the activations of its last forward only");
        }
        for (Tensor t : new Tensor[] {dLogitsIn, dImagesOut}) {
            long n = t == dLogitsIn ? (long) batch * classes : (long) batch * pixels;
            if (t == null || t.dtype() != DType.F32 || t.numel() != n || !t.isContiguous()) {
                throw new IllegalArgumentException("the input gradient takes contiguous F32 [" + batch + ", " + classes + "] and [" + batch + ", " + pixels
                        + "] tensors, not " + dLogitsIn + " and " + dImagesOut);
            }
        }
        if (dEmb == null) {
            dEmb = empty((long) batch * patches, d);
            dPatches = empty((long) batch * patches, patchPixels);
            dImages = empty(batch, pixels);
        }
        ops.upload(dLogitsIn, dLogits);
        backward(true);
        // dX [T, d] is now the gradient of the tokens: the patch rows' part goes back through the patch embedding
        ops.patchRowsOfTokens(batch, dX, dEmb);
        ops.gemm(false, false, 1f, dEmb, sh.wEmbed, 0f, dPatches);
        ops.gatherColumns(dPatches, sh.patchPositionOf, dImages); // rows of patches back into images
        ops.download(dImages, dImagesOut);
    }

    /** Forward passes this step has made so far (what {@link #inputGradient} checks it undoes the last one). */
    public long forwards() {
        return forwards;
    }

    /** The ViT's forward of the uploaded images: tokens, blocks, the final LayerNorm on every row, the head on the class tokens. */
    private void forward() {
        forwards++;
        ops.gatherColumns(imagesIn, sh.pixelOf, patchesIn); // images into rows of patches, as VisionTransformer.patchify
        ops.gemm(false, true, 1f, patchesIn, sh.wEmbed, 0f, emb);
        ops.addBias(sh.bEmbed, emb);
        ops.vitTokens(batch, emb, sh.cls, sh.pos, blocks.get(0).x);
        for (int i = 0; i < blocks.size(); i++) blocks.get(i).forward(i + 1 < blocks.size() ? blocks.get(i + 1).x : xTop);
        ops.layerNormForward(xTop, sh.gNorm, sh.bNorm, EPS, lnTop, meanTop, rstdTop);
        ops.copy2d(batch, d, lnTop, (long) seq * d, clsRows, d);
        ops.gemm(false, true, 1f, clsRows, sh.wHead, 0f, logits);
        ops.addBias(sh.bHead, logits);
    }

    /** From dLogits down to the first block's adapters, and on to the tokens' gradient in dX with {@code toTokens}. */
    private void backward(boolean toTokens) {
        ops.gemm(false, false, 1f, dLogits, sh.wHead, 0f, dCls);
        ops.zero(dLnTop);
        ops.copy2d(batch, d, dCls, d, dLnTop, (long) seq * d);
        ops.zero(dX);
        ops.layerNormBackwardInput(xTop, sh.gNorm, meanTop, rstdTop, dLnTop, dX);
        for (int i = blocks.size() - 1; i >= 0; i--) blocks.get(i).backward(dX, i == 0 && !toTokens);
    }

    /** One training step at learning rate {@code lr} (lora_B at lr × the LoRA+ ratio): gradients, clipping, AdamW. */
    public void step(Tensor images, Tensor batchLabels, float lr) {
        if (!sh.trains) throw new IllegalStateException("this step was made for inference (logits and input gradients): it trains nothing");
        computeGradients(images, batchLabels);
        X scale = null;
        if (sh.maxGradNorm > 0) {
            for (int i = 0; i < sh.grads.size(); i++) ops.sumSquares(sh.grads.get(i), sh.sums, i);
            ops.clipScale(sh.sums, sh.maxGradNorm, sh.clipScale);
            scale = sh.clipScale;
        }
        long step = ++sh.steps;
        for (BlockWeights<X> b : sh.blocks)
            for (Adapter<X> a : b.lin) {
                if (a.host == null) continue;
                ops.adamw(a.a, a.gradA, scale, a.mA, a.vA, lr, step);
                ops.adamw(a.bMat, a.gradB, scale, a.mB, a.vB, lr * sh.loraPlusRatio, step);
            }
    }

    /** The last batch's mean loss (waits for the queued work). */
    public float loss() {
        ops.download(lossSum, hostLoss);
        return hostLoss.getFloat(0) / batch;
    }

    /** The adapters' gradients from the last {@link #computeGradients}, by parameter name (waits for the queued work). */
    public Map<String, float[]> gradients() {
        Map<String, float[]> out = new LinkedHashMap<>();
        for (int i = 0; i < blocks.size(); i++)
            for (int t = 0; t < TARGETS.length; t++) {
                Adapter<X> a = sh.blocks.get(i).lin.get(t);
                if (a.host == null) continue;
                String name = "blocks." + i + "." + TARGETS[t] + ".";
                out.put(name + "lora_A", download(a.gradA, a.host.loraA().value().shape()));
                out.put(name + "lora_B", download(a.gradB, a.host.loraB().value().shape()));
            }
        return out;
    }

    /** Copies the trained adapters back into the ViT this step was made from (waits for the queued work). */
    public void copyAdaptersBack() {
        for (BlockWeights<X> b : sh.blocks)
            for (Adapter<X> a : b.lin) {
                if (a.host == null) continue;
                ops.download(a.a, a.host.loraA().value());
                ops.download(a.bMat, a.host.loraB().value());
            }
    }

    /** Optimizer steps taken, by the steps of every batch size together. */
    public long steps() {
        return sh.steps;
    }

    /** Images [B, H·W] in, checked first. */
    private void upload(Tensor images) {
        if (images == null || images.rank() != 2 || images.dim(0) != batch || images.dim(1) != pixels || images.dtype() != DType.F32 || !images.isContiguous()) {
            throw new IllegalArgumentException("images must be a contiguous F32 [" + batch + ", " + pixels + "] tensor, are " + images);
        }
        ops.upload(images, imagesIn);
    }

    private void checkLabels(Tensor batchLabels) {
        if (batchLabels == null || batchLabels.dtype() != DType.I32 || batchLabels.numel() != batch || !batchLabels.isContiguous()) {
            throw new IllegalArgumentException("labels must be a contiguous I32 [" + batch + "] tensor, are " + batchLabels);
        }
        for (int b = 0; b < batch; b++) {
            int label = batchLabels.getInt(b);
            if (label < 0 || label >= classes) throw new IllegalArgumentException("label " + label + " of image " + b + " is not in [0, " + classes + ")");
        }
    }

    private float[] download(X t, long[] shape) {
        try (Arena arena = Arena.ofConfined()) {
            Tensor host = Tensor.zeros(arena, DType.F32, shape);
            ops.download(t, host);
            return host.toFloatArray();
        }
    }

    private X act(long cols) {
        return empty(rows, cols);
    }

    private X empty(long... shape) {
        return own(ops.empty(shape));
    }

    private X own(X t) {
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

    /** The permutation that undoes {@code index} (a permutation of 0..n-1): inverse[index[j]] = j. */
    private static Tensor inverse(Arena arena, Tensor index) {
        Tensor inv = Tensor.zeros(arena, DType.I32, index.numel());
        for (int j = 0; j < index.numel(); j++) inv.setInt(index.getInt(j), j);
        return inv;
    }

    /** The rank of the ViT's unmerged adapters (all one, checked before), 1 where it has none (the unused scratch's width). */
    private static int rank(VisionTransformer vit) {
        for (Module m : vit.namedModules().values())
            if (m instanceof LoraLinear l && !l.merged()) return (int) l.loraA().value().dim(0);
        return 1;
    }

    /**
     * Refuses a ViT the forward cannot compute: every block's qkv, proj, fc1 and fc2 must be a biased f32
     * linear layer, with or without an unmerged plain-LoRA adapter (one rank for all); compressed layers
     * (int8, 2:4) and DoRA run on the CPU.
     */
    static void checkInferable(VisionTransformer vit) {
        Map<String, Module> modules = vit.namedModules();
        checkPlainEnds(modules);
        long rank = -1;
        for (int i = 0; i < vit.config().depth(); i++)
            for (String t : TARGETS) {
                String path = "blocks." + i + "." + t;
                Module m = modules.get(path);
                Linear base = m instanceof LoraLinear l ? l.base() : m instanceof Linear plain ? plain : null;
                if (base == null) throw new IllegalArgumentException("the GPU forward takes f32 linear layers: " + path + " is " + m.getClass().getSimpleName()
                        + " (compressed models run on the CPU's int8 and 2:4 kernels)");
                if (base.bias() == null) throw new IllegalArgumentException("the GPU forward expects biased linear layers: " + path + " has no bias");
                if (!(m instanceof LoraLinear l) || l.merged()) continue;
                if (l.magnitude() != null) throw new IllegalArgumentException("the GPU forward has no DoRA: " + path + " has a magnitude (merge it, or use the CPU)");
                long r = l.loraA().value().dim(0);
                if (rank >= 0 && r != rank) throw new IllegalArgumentException("the GPU forward takes one LoRA rank: " + path + " has " + r + ", others " + rank);
                rank = r;
            }
    }

    /** The patch embedding and the head must be plain f32 linear layers (no adapter, not compressed). */
    private static void checkPlainEnds(Map<String, Module> modules) {
        for (String path : new String[] {"patch_embed", "head"}) {
            Module m = modules.get(path);
            if (!(m instanceof Linear)) {
                throw new IllegalArgumentException("the tape-free ViT step takes a plain linear " + path + ", not " + m.getClass().getSimpleName()
                        + " (adapters go on the blocks' qkv, proj, fc1 and fc2)");
            }
        }
    }

    /** Refuses a ViT where anything but LoRA adapters (one rank, no dropout) on every block's qkv, proj, fc1, fc2 trains. */
    static void checkOnlyAdaptersTrain(VisionTransformer vit) {
        Map<String, Module> modules = vit.namedModules();
        checkPlainEnds(modules);
        long rank = -1;
        for (int i = 0; i < vit.config().depth(); i++)
            for (String t : TARGETS) {
                String path = "blocks." + i + "." + t;
                if (!(modules.get(path) instanceof LoraLinear l) || l.merged()) {
                    throw new IllegalArgumentException("the LoRA step trains adapters on every block's qkv, proj, fc1 and fc2: " + path + " has none");
                }
                if (l.dropout() != 0) throw new IllegalArgumentException("the LoRA step has no LoRA dropout: " + path + " has " + l.dropout());
                if (l.magnitude() != null) throw new IllegalArgumentException("the LoRA step trains plain LoRA, not DoRA: " + path + " has a magnitude (train DoRA on the CPU)");
                if (l.base().bias() == null) throw new IllegalArgumentException("the LoRA step expects biased linear layers: " + path + " has no bias");
                long r = l.loraA().value().dim(0);
                if (rank >= 0 && r != rank) throw new IllegalArgumentException("the LoRA step takes one LoRA rank: " + path + " has " + r + ", others " + rank);
                rank = r;
            }
        vit.namedParameters().forEach((name, param) -> {
            if (param.trainable() && !name.endsWith("lora_A") && !name.endsWith("lora_B")) {
                throw new IllegalArgumentException("the LoRA step trains LoRA adapters only: " + name + " is trainable too");
            }
        });
    }

    private static void checkClipping(float maxGradNorm) {
        if (!(maxGradNorm >= 0)) throw new IllegalArgumentException("maxGradNorm must be >= 0, is " + maxGradNorm);
    }

    /** Frees the steps of every batch size made from the same {@link #onGpu} or {@link #onHost}, and their shared state. */
    @Override
    public void close() {
        if (sh.byBatch.isEmpty()) return;
        for (VitLoraStep<X> s : sh.byBatch.values()) {
            s.owned.forEach(ops::free);
            s.owned.clear();
        }
        sh.byBatch.clear();
        sh.owned.forEach(ops::free);
        sh.owned.clear();
        ops.close();
        sh.hostArena.close();
    }
}
