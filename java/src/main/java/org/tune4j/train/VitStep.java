package org.tune4j.train;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.IdentityHashMap;
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
import org.tune4j.optim.AdamW;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * The main job's ViT training step without the tape: the forward and backward written out layer by layer
 * (llm.c's way, each layer's backward beside the forward it undoes), then global-norm clipping and AdamW
 * on whatever the ViT trains: its LoRA adapters (with LoRA+), every weight (full fine-tuning,
 * pretraining), or some (the head). Written once over {@link VitStepOps}: {@link #onGpu} runs it on
 * device tensors, every op queued on one stream (nothing waits for the host inside a step);
 * {@link #onHost} runs the same code on host tensors, where VitStepTest checks it against the tape. The
 * math is the tape's ({@link VisionTransformer#logits}, {@link LoraLinear}, {@link Trainer#fit}'s step
 * with {@link AdamW}). The backward stops below the lowest layer that trains. A step made for inference
 * ({@link #forInferenceOnGpu}) gives logits and the images' gradient, and trains nothing.
 *
 * <p>The blocks' qkv, proj, fc1 and fc2 are biased linear layers, each with an unmerged plain-LoRA adapter
 * (one rank for all, no dropout) or none; the patch embedding and the head are plain linear layers.
 * Anything else (DoRA, LoRA dropout, compressed layers) is refused with a message. Shapes: B images of P
 * patches of pp pixels, S = P + 1 tokens, T = B·S rows, width d, H heads, MLP width f, C classes, rank r.
 */
public final class VitStep<X> implements AutoCloseable {
    private static final String[] TARGETS = {"attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2"};
    private static final int QKV = 0, PROJ = 1, FC1 = 2, FC2 = 3;
    private static final float EPS = 1e-5f; // nn.LayerNorm's

    /**
     * How a step trains, as {@link Trainer#fit} with {@link AdamW#of}: decoupled weight decay on the
     * matrices {@link AdamW#weightDecayOf} picks, lora_B at {@code loraPlusRatio} times the learning rate,
     * the gradients clipped to the global norm {@code maxGradNorm} (0: not clipped), label smoothing.
     */
    public record Training(float weightDecay, float loraPlusRatio, float maxGradNorm, float labelSmoothing) {
        public Training {
            if (!(weightDecay >= 0)) throw new IllegalArgumentException("weight decay must be >= 0, is " + weightDecay);
            if (!(loraPlusRatio > 0)) throw new IllegalArgumentException("the LoRA+ ratio must be > 0, is " + loraPlusRatio);
            if (!(maxGradNorm >= 0)) throw new IllegalArgumentException("maxGradNorm must be >= 0, is " + maxGradNorm);
            if (!(labelSmoothing >= 0 && labelSmoothing < 1)) throw new IllegalArgumentException("label smoothing must be in [0, 1), is " + labelSmoothing);
        }

        /** The main job's: weight decay 0.01 (which spares the adapters), no label smoothing. */
        public static Training adaptation(float loraPlusRatio, float maxGradNorm) {
            return new Training(0.01f, loraPlusRatio, maxGradNorm, 0f);
        }
    }

    /** A parameter on the step's device: its value and, where it trains, its gradient and AdamW moments. */
    private static final class Param<X> {
        final String name;
        final Parameter host;
        final X value, grad, m, v; // grad, m, v null where it does not train
        final float lrScale, weightDecay;

        Param(Shared<X> sh, String name, Parameter host, boolean trains) {
            this.name = name;
            this.host = host;
            value = sh.up(host.value());
            grad = trains ? sh.zeros(host.value().shape()) : null;
            m = trains ? sh.zeros(host.value().shape()) : null;
            v = trains ? sh.zeros(host.value().shape()) : null;
            lrScale = AdamW.lrScaleOf(name, sh.training.loraPlusRatio());
            weightDecay = AdamW.weightDecayOf(name, host, sh.training.weightDecay());
        }

        boolean trains() {
            return grad != null;
        }
    }

    /** A linear layer with its adapter, if any, shared by the steps of every batch size: y = x Wᵀ + b + s (x Aᵀ) Bᵀ. */
    private static final class LinearLayer<X> {
        final VitStepOps<X> ops;
        final Param<X> w, b, a, bMat; // a, bMat null without an adapter
        final float scale;

        LinearLayer(Shared<X> sh, Module layer) {
            ops = sh.ops;
            LoraLinear lora = layer instanceof LoraLinear l && !l.merged() ? l : null;
            Linear base = layer instanceof LoraLinear l ? l.base() : (Linear) layer;
            w = sh.param(base.weight());
            b = sh.param(base.bias());
            a = lora == null ? null : sh.param(lora.loraA());
            bMat = lora == null ? null : sh.param(lora.loraB());
            scale = lora == null ? 0 : lora.scale();
        }

        boolean trains() {
            return w.trains() || b.trains() || (a != null && (a.trains() || bMat.trains()));
        }

        /** y [T, out] = x Wᵀ + b + s h Bᵀ with h [T, r] = x Aᵀ kept for backward */
        void forward(X x, X h, X y) {
            ops.gemm(false, true, 1f, x, w.value, 0f, y);
            ops.addBias(b.value, y);
            if (a == null) return;
            ops.gemm(false, true, 1f, x, a.value, 0f, h);
            ops.gemm(false, true, scale, h, bMat.value, 1f, y);
        }

        /**
         * From dy [T, out], with {@code paramGrads}: dW += dyᵀ x, db += Σ rows of dy, dB += s dyᵀ h, dA += dhᵀ x
         * for those that train (dh [T, r] = s dy B); dx [T, in] = dy W + dh A unless null (overwritten)
         */
        void backward(X x, X h, X dy, X dh, X dx, boolean paramGrads) {
            if (paramGrads && w.trains()) ops.gemm(true, false, 1f, dy, x, 1f, w.grad);
            if (paramGrads && b.trains()) ops.sumRows(dy, b.grad);
            if (a != null) {
                if (paramGrads && bMat.trains()) ops.gemm(true, false, scale, dy, h, 1f, bMat.grad);
                boolean needDh = dx != null || (paramGrads && a.trains());
                if (needDh) ops.gemm(false, false, scale, dy, bMat.value, 0f, dh);
                if (paramGrads && a.trains()) ops.gemm(true, false, 1f, dh, x, 1f, a.grad);
            }
            if (dx == null) return;
            ops.gemm(false, false, 1f, dy, w.value, 0f, dx);
            if (a != null) ops.gemm(false, false, 1f, dh, a.value, 1f, dx);
        }
    }

    /** One block's LayerNorms and linear layers, shared by the steps of every batch size. */
    private static final class BlockWeights<X> {
        final Param<X> g1, be1, g2, be2;
        final List<LinearLayer<X>> lin = new ArrayList<>();

        BlockWeights(Shared<X> sh, Map<String, Parameter> p, Map<String, Module> modules, String prefix) {
            g1 = sh.param(p.get(prefix + "norm1.weight"));
            be1 = sh.param(p.get(prefix + "norm1.bias"));
            g2 = sh.param(p.get(prefix + "norm2.weight"));
            be2 = sh.param(p.get(prefix + "norm2.bias"));
            for (String t : TARGETS) lin.add(new LinearLayer<>(sh, modules.get(prefix + t)));
        }

        boolean trains() {
            return g1.trains() || be1.trains() || g2.trains() || be2.trains() || lin.stream().anyMatch(LinearLayer::trains);
        }
    }

    /** One block at this step's batch: its weights, and what its forward keeps for backward. */
    private final class Block {
        final BlockWeights<X> w;
        final List<LinearLayer<X>> lin;
        final X x, ln1, mean1, rstd1, qkv, hQkv, probs, att, hProj, h1, ln2, mean2, rstd2, f1, hFc1, g, hFc2;

        Block(BlockWeights<X> w) {
            this.w = w;
            lin = w.lin;
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
            ops.layerNormForward(x, w.g1.value, w.be1.value, EPS, ln1, mean1, rstd1);
            lin.get(QKV).forward(ln1, hQkv, qkv);
            ops.attentionForward(batch, heads, qkv, attentionScale, probs, att);
            lin.get(PROJ).forward(att, hProj, tmpD);
            ops.add(x, tmpD, h1);
            ops.layerNormForward(h1, w.g2.value, w.be2.value, EPS, ln2, mean2, rstd2);
            lin.get(FC1).forward(ln2, hFc1, f1);
            ops.geluForward(f1, g);
            lin.get(FC2).forward(g, hFc2, tmpD);
            ops.add(h1, tmpD, out);
        }

        /**
         * From dOut [T, d], the gradient of the block's output: the parameters' gradients with {@code paramGrads};
         * dOut becomes the gradient of x unless {@code last} (the lowest block the backward reaches)
         */
        void backward(X dOut, boolean last, boolean paramGrads) {
            lin.get(FC2).backward(g, hFc2, dOut, dR, dF, paramGrads);                  // dF = d GELU output
            ops.zero(dF2);
            ops.geluBackward(f1, dF, dF2);                                              // dF2 = d fc1 output
            lin.get(FC1).backward(ln2, hFc1, dF2, dR, dLn, paramGrads);                 // dLn = d LN2 output
            ops.copy(dOut, dH1);
            layerNormBackward(h1, w.g2, w.be2, mean2, rstd2, dLn, dH1, paramGrads);     // dH1 = dOut + LN2's input gradient
            lin.get(PROJ).backward(att, hProj, dH1, dR, tmpD, paramGrads);              // tmpD = d attention output
            ops.attentionBackward(batch, heads, qkv, probs, tmpD, attentionScale, dQkv);
            boolean ln1Trains = paramGrads && (w.g1.trains() || w.be1.trains());
            lin.get(QKV).backward(ln1, hQkv, dQkv, dR, last && !ln1Trains ? null : dLn, paramGrads); // dLn = d LN1 output
            if (last && !ln1Trains) return;
            if (!last) ops.copy(dH1, dOut);
            layerNormBackward(x, w.g1, w.be1, mean1, rstd1, dLn, last ? null : dOut, paramGrads);  // dOut = dH1 + LN1's input gradient
        }
    }

    /** What the steps of every batch size share: the ops, the weights, their gradients and optimizer state. */
    private static final class Shared<X> {
        final VitStepOps<X> ops;
        final VisionTransformer.Config config;
        final Training training;
        final boolean trains; // false: made for inference (logits and input gradients), step refused
        final int r;
        final float attentionScale;
        final Arena hostArena = Arena.ofShared();
        final List<X> owned = new ArrayList<>();
        final Map<Integer, VitStep<X>> byBatch = new LinkedHashMap<>();
        final Map<Parameter, Param<X>> params = new IdentityHashMap<>();
        final List<Param<X>> trained = new ArrayList<>();
        final Map<Parameter, String> names = new IdentityHashMap<>();
        final X pixelOf, patchPositionOf, sums, clipScale;
        final LinearLayer<X> embed, head;
        final Param<X> cls, pos, gNorm, bNorm;
        final List<BlockWeights<X>> blocks = new ArrayList<>();
        final int lowestTrainedBlock; // depth where no block trains
        final boolean embeddingTrains, normTrains;
        long steps;

        Shared(VitStepOps<X> ops, VisionTransformer vit, Training training, boolean trains) {
            this.ops = ops;
            this.training = training;
            this.trains = trains;
            this.config = vit.config();
            this.attentionScale = (float) (1 / Math.sqrt((double) config.dim() / config.heads()));
            Map<String, Parameter> p = vit.namedParameters();
            p.forEach((name, param) -> names.put(param, name));
            Map<String, Module> modules = vit.namedModules();
            r = rank(vit);
            Tensor pixelOfPosition = pixelOfPatchPosition(hostArena, config.image(), config.patch());
            pixelOf = up(pixelOfPosition);
            patchPositionOf = up(inverse(hostArena, pixelOfPosition));
            embed = new LinearLayer<>(this, modules.get("patch_embed"));
            cls = param(p.get("cls_token"));
            pos = param(p.get("pos_embed"));
            for (int i = 0; i < config.depth(); i++) blocks.add(new BlockWeights<>(this, p, modules, "blocks." + i + "."));
            gNorm = param(p.get("norm.weight"));
            bNorm = param(p.get("norm.bias"));
            head = new LinearLayer<>(this, modules.get("head"));
            int lowest = config.depth();
            for (int i = config.depth() - 1; i >= 0; i--) if (blocks.get(i).trains()) lowest = i;
            lowestTrainedBlock = lowest;
            embeddingTrains = embed.trains() || cls.trains() || pos.trains();
            normTrains = gNorm.trains() || bNorm.trains();
            sums = zeros(Math.max(1, trained.size()), 1);
            clipScale = zeros(1);
        }

        /** The parameter on the device, made on first use; it trains where the ViT trains it and this step trains. */
        Param<X> param(Parameter host) {
            Param<X> existing = params.get(host);
            if (existing != null) return existing;
            Param<X> made = new Param<>(this, names.get(host), host, trains && host.trainable());
            params.put(host, made);
            if (made.trains()) trained.add(made);
            return made;
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

        VitStep<X> stepFor(int batch) {
            return byBatch.computeIfAbsent(batch, b -> new VitStep<>(this, b));
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
    private final X dLogits, dCls, dLnTop, dX, dH1, dLn, dF, dF2, dQkv, dR, tmpD, dEmb, dPos;
    private X dPatches, dImages; // the input gradient's, allocated by its first call
    private long forwards; // forward passes so far: an input gradient must follow the forward it undoes
    private final List<Block> blocks = new ArrayList<>();

    /**
     * The step on a GPU for batches of {@code batch} images (and {@link #withBatch} for others), GEMMs at
     * {@code precision}, training what {@code vit} trains as {@code training} says.
     */
    public static VitStep<DeviceTensor> onGpu(CudaBackend gpu, VisionTransformer vit, int batch, Training training, Cublas.Precision precision) {
        return onGpu(gpu, vit, batch, training, precision, true);
    }

    /** As {@link #onGpu}; {@code cudaGraphs} false queues every op of every step one by one (what the graphs save, measured). */
    public static VitStep<DeviceTensor> onGpu(CudaBackend gpu, VisionTransformer vit, int batch, Training training, Cublas.Precision precision,
            boolean cudaGraphs) {
        checkTrainable(vit);
        return new Shared<>(new CudaVitStepOps(gpu, precision, cudaGraphs), vit, training, true).stepFor(batch);
    }

    /** The same step on host tensors through {@code backend} (the GPU step's oracle, and a tape-free CPU step). */
    public static VitStep<Tensor> onHost(Backend backend, VisionTransformer vit, int batch, Training training) {
        checkTrainable(vit);
        return new Shared<>(new HostVitStepOps(backend), vit, training, true).stepFor(batch);
    }

    /**
     * The forward and the input gradient on a GPU ({@link #logits}, {@link #inputGradient}; {@link #step} refused)
     * of any f32 ViT the step takes, its LoRA adapters unmerged or merged, or none; a snapshot of its weights now.
     */
    public static VitStep<DeviceTensor> forInferenceOnGpu(CudaBackend gpu, VisionTransformer vit, int batch, Cublas.Precision precision) {
        checkShape(vit);
        return new Shared<>(new CudaVitStepOps(gpu, precision, false), vit, Training.adaptation(1f, 0f), false).stepFor(batch);
    }

    /** {@link #forInferenceOnGpu} on host tensors through {@code backend}: its oracle, checked against the tape. */
    public static VitStep<Tensor> forInferenceOnHost(Backend backend, VisionTransformer vit, int batch) {
        checkShape(vit);
        return new Shared<>(new HostVitStepOps(backend), vit, Training.adaptation(1f, 0f), false).stepFor(batch);
    }

    /** The step for batches of {@code b} images over the same weights and optimizer state (a partial last batch). */
    public VitStep<X> withBatch(int b) {
        return sh.stepFor(b);
    }

    /** How this step trains. */
    public Training training() {
        return sh.training;
    }

    private VitStep(Shared<X> sh, int batch) {
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
        dEmb = empty((long) batch * patches, d);
        dPos = empty(seq, d);
        for (BlockWeights<X> w : sh.blocks) blocks.add(new Block(w));
    }

    /** Forward and backward of one batch (images [B, H·W] F32, labels [B] I32): the gradients of what trains, not applied. */
    public void computeGradients(Tensor images, Tensor batchLabels) {
        uploadBatch(images, batchLabels);
        forwards++;
        queueGradients();
    }

    /**
     * One training step at learning rate {@code lr}: gradients, clipping, AdamW (lora_B at lr × the LoRA+ ratio).
     * On a GPU the gradients and the clipping factor, the same launches every step, are recorded as a CUDA graph
     * at this batch size's second step and replayed from the third ({@link VitStepOps#runRecorded}); AdamW, whose
     * learning rate changes, is queued as it is.
     */
    public void step(Tensor images, Tensor batchLabels, float lr) {
        if (!sh.trains) throw new IllegalStateException("this step was made for inference (logits and input gradients): it trains nothing");
        uploadBatch(images, batchLabels);
        forwards++;
        boolean clip = sh.training.maxGradNorm() > 0;
        ops.runRecorded(this, () -> {
            queueGradients();
            if (!clip) return;
            for (int i = 0; i < sh.trained.size(); i++) ops.sumSquares(sh.trained.get(i).grad, sh.sums, i);
            ops.clipScale(sh.sums, sh.training.maxGradNorm(), sh.clipScale);
        });
        long step = ++sh.steps;
        for (Param<X> p : sh.trained) ops.adamw(p.value, p.grad, clip ? sh.clipScale : null, p.m, p.v, lr * p.lrScale, p.weightDecay, step);
    }

    /** The mean loss's gradients of the uploaded batch, for what trains; queues only launches (what a CUDA graph records). */
    private void queueGradients() {
        forward();
        ops.crossEntropyForward(logits, labels, sh.training.labelSmoothing(), probs, lossSum);
        ops.zero(dLogits);
        ops.crossEntropyBackwardMean(probs, labels, sh.training.labelSmoothing(), dLogits);
        for (Param<X> p : sh.trained) ops.zero(p.grad);
        backward(true, false);
    }

    /** The last batch's mean loss (waits for the queued work). */
    public float loss() {
        ops.download(lossSum, hostLoss);
        return hostLoss.getFloat(0) / batch;
    }

    /** The gradients from the last {@link #computeGradients} of what trains, by parameter name (waits for the queued work). */
    public Map<String, float[]> gradients() {
        Map<String, float[]> out = new LinkedHashMap<>();
        for (Param<X> p : sh.trained) {
            try (Arena arena = Arena.ofConfined()) {
                Tensor host = Tensor.zeros(arena, DType.F32, p.host.value().shape());
                ops.download(p.grad, host);
                out.put(p.name, host.toFloatArray());
            }
        }
        return out;
    }

    /** Copies what this step trained back into the ViT it was made from (waits for the queued work). */
    public void copyTrainedBack() {
        for (Param<X> p : sh.trained) ops.download(p.value, p.host.value());
    }

    /** Optimizer steps taken, by the steps of every batch size together. */
    public long steps() {
        return sh.steps;
    }

    /** Logits [B, C] of images [B, H·W] into the host tensor {@code out} (waits for them); {@link #inputGradient} may follow. */
    public void logits(Tensor images, Tensor out) {
        if (out == null || out.dtype() != DType.F32 || out.numel() != (long) batch * classes || !out.isContiguous()) {
            throw new IllegalArgumentException("logits go into a contiguous F32 [" + batch + ", " + classes + "] tensor, not " + out);
        }
        upload(images);
        forwards++;
        forward();
        ops.download(logits, out);
    }

    /**
     * The gradient with respect to the images of the last {@link #logits} call, {@code dImagesOut} [B, H·W] =
     * (∂logits/∂images)ᵀ dLogitsIn [B, C] (host tensors; waits for it); no parameter's gradient is touched.
     * {@code forward} is the number {@link #forwards} gave right after that call: another forward in between
     * is refused, since this step keeps one forward's activations.
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
        if (dPatches == null) {
            dPatches = empty((long) batch * patches, patchPixels);
            dImages = empty(batch, pixels);
        }
        ops.upload(dLogitsIn, dLogits);
        backward(false, true);
        ops.gemm(false, false, 1f, dEmb, sh.embed.w.value, 0f, dPatches);
        ops.gatherColumns(dPatches, sh.patchPositionOf, dImages); // rows of patches back into images
        ops.download(dImages, dImagesOut);
    }

    /** Forward passes this step has made so far (what {@link #inputGradient} checks it undoes the last one). */
    public long forwards() {
        return forwards;
    }

    /** The ViT's forward of the uploaded images: tokens, blocks, the final LayerNorm on every row, the head on the class tokens. */
    private void forward() {
        ops.gatherColumns(imagesIn, sh.pixelOf, patchesIn); // images into rows of patches, as VisionTransformer.patchify
        sh.embed.forward(patchesIn, null, emb);
        ops.vitTokens(batch, emb, sh.cls.value, sh.pos.value, blocks.get(0).x);
        for (int i = 0; i < blocks.size(); i++) blocks.get(i).forward(i + 1 < blocks.size() ? blocks.get(i + 1).x : xTop);
        ops.layerNormForward(xTop, sh.gNorm.value, sh.bNorm.value, EPS, lnTop, meanTop, rstdTop);
        ops.copy2d(batch, d, lnTop, (long) seq * d, clsRows, d);
        sh.head.forward(clsRows, null, logits);
    }

    /**
     * From dLogits down as far as it is needed: the gradients of what trains with {@code paramGrads}; with
     * {@code toEmbedding} (the input gradient) on to dEmb [B·P, d], the patch embedding's output gradient.
     */
    private void backward(boolean paramGrads, boolean toEmbedding) {
        boolean embedding = toEmbedding || (paramGrads && sh.embeddingTrains);
        int lowest = embedding ? 0 : paramGrads ? sh.lowestTrainedBlock : blocks.size();
        boolean belowHead = embedding || lowest < blocks.size() || (paramGrads && sh.normTrains);
        sh.head.backward(clsRows, null, dLogits, null, belowHead ? dCls : null, paramGrads);
        if (!belowHead) return;
        ops.zero(dLnTop);
        ops.copy2d(batch, d, dCls, d, dLnTop, (long) seq * d);
        ops.zero(dX);
        layerNormBackward(xTop, sh.gNorm, sh.bNorm, meanTop, rstdTop, dLnTop, dX, paramGrads);
        for (int i = blocks.size() - 1; i >= lowest; i--) blocks.get(i).backward(dX, i == lowest && !embedding, paramGrads);
        if (!embedding) return;
        // dX [T, d] is now the tokens' gradient: cls and pos take theirs, the patch rows go back through the embedding
        if (paramGrads && (sh.cls.trains() || sh.pos.trains())) {
            ops.zero(dPos);
            ops.sumRows(ops.reshape(dX, batch, (long) seq * d), ops.reshape(dPos, (long) seq * d)); // dpos [S, d] = Σ over the batch
            if (sh.pos.trains()) ops.copy(dPos, sh.pos.grad);
            if (sh.cls.trains()) ops.copy2d(1, d, dPos, d, sh.cls.grad, d);          // dcls = dpos's first row
        }
        ops.patchRowsOfTokens(batch, dX, dEmb);
        sh.embed.backward(patchesIn, null, dEmb, null, null, paramGrads);
    }

    /** dx += the LayerNorm's input gradient; with {@code paramGrads}, its gamma's and beta's where they train. */
    private void layerNormBackward(X x, Param<X> gamma, Param<X> beta, X mean, X rstd, X dy, X dx, boolean paramGrads) {
        ops.layerNormBackward(x, gamma.value, mean, rstd, dy, dx, paramGrads && gamma.trains() ? gamma.grad : null,
                paramGrads && beta.trains() ? beta.grad : null);
    }

    /** Images [B, H·W] and labels [B] in, checked first. */
    private void uploadBatch(Tensor images, Tensor batchLabels) {
        checkLabels(batchLabels);
        upload(images);
        ops.upload(batchLabels, labels);
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
     * Refuses a ViT the step cannot compute: every block's qkv, proj, fc1 and fc2 must be a biased f32 linear
     * layer with or without an unmerged plain-LoRA adapter (one rank for all); the patch embedding and the
     * head plain linear layers; compressed layers (int8, 2:4) and DoRA run on the CPU.
     */
    static void checkShape(VisionTransformer vit) {
        Map<String, Module> modules = vit.namedModules();
        for (String path : new String[] {"patch_embed", "head"}) {
            Module m = modules.get(path);
            if (!(m instanceof Linear l) || l.bias() == null) {
                throw new IllegalArgumentException("the tape-free ViT step takes a plain biased linear " + path + ", not " + m.getClass().getSimpleName()
                        + " (adapters go on the blocks' qkv, proj, fc1 and fc2)");
            }
        }
        long rank = -1;
        for (int i = 0; i < vit.config().depth(); i++)
            for (String t : TARGETS) {
                String path = "blocks." + i + "." + t;
                Module m = modules.get(path);
                Linear base = m instanceof LoraLinear l ? l.base() : m instanceof Linear plain ? plain : null;
                if (base == null) throw new IllegalArgumentException("the tape-free ViT step takes f32 linear layers: " + path + " is "
                        + m.getClass().getSimpleName() + " (compressed models run on the CPU's int8 and 2:4 kernels)");
                if (base.bias() == null) throw new IllegalArgumentException("the tape-free ViT step expects biased linear layers: " + path + " has no bias");
                if (!(m instanceof LoraLinear l) || l.merged()) continue;
                if (l.magnitude() != null) throw new IllegalArgumentException("the tape-free ViT step has no DoRA: " + path + " has a magnitude (train DoRA on the CPU)");
                long r = l.loraA().value().dim(0);
                if (rank >= 0 && r != rank) throw new IllegalArgumentException("the tape-free ViT step takes one LoRA rank: " + path + " has " + r + ", others " + rank);
                rank = r;
            }
    }

    /** {@link #checkShape}, and for training no LoRA dropout (the step has none) and no trainable adapter merged into its layer. */
    static void checkTrainable(VisionTransformer vit) {
        checkShape(vit);
        vit.namedModules().forEach((path, m) -> {
            if (!(m instanceof LoraLinear l)) return;
            if (!l.merged() && l.dropout() != 0) throw new IllegalArgumentException("the tape-free ViT step has no LoRA dropout: " + path + " has " + l.dropout());
            if (l.merged() && (l.loraA().trainable() || l.loraB().trainable())) {
                throw new IllegalArgumentException("the tape-free ViT step trains no merged adapter: " + path + " is merged (unmerge it to train it)");
            }
        });
    }

    /** Frees the steps of every batch size made from the same {@link #onGpu} or {@link #onHost}, and their shared state. */
    @Override
    public void close() {
        if (sh.byBatch.isEmpty()) return;
        for (VitStep<X> s : sh.byBatch.values()) {
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
