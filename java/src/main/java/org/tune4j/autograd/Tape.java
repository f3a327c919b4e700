package org.tune4j.autograd;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.SplittableRandom;
import org.tune4j.backend.Backend;
import org.tune4j.backend.PackedLinearWeights;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Memory;
import org.tune4j.tensor.Tensor;

/**
 * Define-by-run reverse-mode autodiff. Each op computes its result now with the {@link Backend} and, when
 * an input needs a gradient, records how to send the result's gradient back to its inputs; {@link
 * #backward} replays those records in reverse. Ops are coarse (a linear layer, a LoRA layer, attention,
 * layer norm ...) so that the native kernels do the work. Activations, saved tensors and intermediate
 * gradients live in the tape's arena, freed by {@link #close} at the end of the step; parameters keep
 * theirs. A tape made with {@code recording = false} is the no-grad mode: it only computes.
 *
 * <p>Tensors the tape makes live where the backend computes ({@link Backend#memory}: the host, or a GPU's
 * memory), and so do the parameters of a model moved there; inputs made on the host (images, ids, labels,
 * lengths) may stay there: an op that needs them on the device copies them. Losses are host scalars, unless
 * {@link #lossOnBackend} keeps them where the backend computes (a step recorded as a CUDA graph reads nothing back).
 *
 * <p>Shapes: activations are [rows, features] matrices, rows = tokens (or images). Ops only the ViT needs (patches,
 * token assembly, attention over a fused qkv) are in {@link VisionOps}, on the same tape.
 */
public final class Tape implements AutoCloseable {
    private final Backend backend;
    private final Arena arena = Arena.ofConfined();
    private final boolean recording;
    private final boolean parameterGradients;
    private final List<Runnable> backwardOps = new ArrayList<>();
    private final Workspace workspace;
    private final StepMemory memory;
    private boolean lossOnBackend;
    private Map<Tensor, PackedLinearWeights> packedWeights = Map.of();
    private ApartGradients apart;    // a later micro-batch's parameter gradients, its own until added (MicroBatches)
    private SplittableRandom random; // dropout masks from here, when set (a micro-batch's own)

    public Tape(Backend backend, boolean recording) {
        this(backend, recording, true);
    }

    /**
     * With {@code parameterGradients = false} only inputs asked for get gradients (an attack needs
     * ∂loss/∂x and must not touch the model's gradients).
     */
    public Tape(Backend backend, boolean recording, boolean parameterGradients) {
        this(backend, recording, parameterGradients, null);
    }

    /**
     * A tape whose tensors come out of {@code workspace}, memory kept from step to step (a training loop
     * makes one and passes it to every step): no allocation per tensor, and no zeroing of outputs that
     * the kernels overwrite. Tensors still die with the tape (their segments are scoped to its arena).
     */
    public Tape(Backend backend, boolean recording, boolean parameterGradients, Workspace workspace) {
        this.backend = backend;
        this.recording = recording;
        this.parameterGradients = parameterGradients;
        this.workspace = workspace;
        this.memory = new StepMemory(arena, backend.memory(), workspace == null ? null : workspace.take(arena, backend.memory()));
    }

    public Backend backend() {
        return backend;
    }

    /**
     * Keeps the losses this tape computes ({@link #crossEntropy}) in the backend's memory instead of on the host, so that
     * a step on a GPU reads nothing back (what a step {@link Backend#record recorded} as a CUDA graph needs); such a loss
     * must be the root of {@link #backward}. Returns this tape.
     */
    public Tape lossOnBackend() {
        lossOnBackend = true;
        return this;
    }

    /**
     * Runs each {@link #linear} and {@link #lora} whose weight is a key of {@code packed} (an identity map) on its packed copy: frozen
     * weights packed once for the CPU GEMM, as a service does at load ({@link PackedLinearWeights}: the same values, so
     * gradients and, above 16 rows and outputs, the bits are unchanged). Those weights must not change while this tape
     * runs. Returns this tape.
     */
    public Tape packedWeights(Map<Tensor, PackedLinearWeights> packed) {
        packedWeights = Objects.requireNonNull(packed, "packed");
        return this;
    }

    /**
     * Keeps this tape's parameter gradients apart from the parameters' own until {@link #addApartGradients}, and draws
     * its dropout masks from {@code random}: a later micro-batch of a step ({@link MicroBatches}). Returns this tape.
     */
    Tape microBatch(SplittableRandom random) {
        this.apart = new ApartGradients();
        this.random = random;
        return this;
    }

    /** Adds the gradients this micro-batch's tape kept apart into the parameters' own (ApartGradients). */
    void addApartGradients() {
        apart.addTo(backend);
    }

    /** Adds rows g [n, d] into {@code table}'s gradient at rows ids [n] (I32; an embedding's backward); a later micro-batch's wait (ApartGradients). */
    void scatterRowsIntoGrad(Var table, Tensor ids, Tensor g) {
        if (apart == null || !apart.deferRows(backend, table, ids, g)) backend.scatterRowsAdd(ids, g, gradOf(table));
    }

    /** The arena of this step: tensors made here are freed with the tape. */
    public Arena arena() {
        return arena;
    }

    /** A new zeroed F32 tensor in the step arena, in the backend's memory. */
    public Tensor zeros(long... shape) {
        Tensor t = empty(shape);
        if (memory.onWorkspace()) t.zero(); // the arena's own allocations come zeroed
        return t;
    }

    /** {@code t} in the backend's memory: itself, or a copy made in the step arena (a host input on a device). */
    Tensor onBackend(Tensor t) {
        if (t == null || t.memory() == backend.memory()) return t;
        if (t.dtype() != DType.F32) return t.copy(arena, backend.memory());
        Tensor c = empty(t.shape());
        c.copyFrom(t);
        return c;
    }

    /**
     * F32 host memory for a step's work done in Java (a gather, a mask, pooling weights): the step's own when the
     * backend computes on the host, else the step arena's (zeroed); {@code zeroed} asks for zeros in either.
     */
    Tensor hostTensor(boolean zeroed, long... shape) {
        if (!backend.memory().isHost()) return Tensor.zeros(arena, DType.F32, shape);
        return zeroed ? zeros(shape) : empty(shape);
    }

    /** A host copy of {@code t} in the step arena (itself when it is on the host). */
    Tensor onHost(Tensor t) {
        return t.isHost() ? t : t.copy(arena, Memory.HOST);
    }

    /** A new F32 tensor whose values are unspecified: for outputs a kernel writes in full. */
    Tensor empty(long... shape) {
        return memory.take(shape);
    }

    /**
     * As {@link #empty(long...)} for a [rows, cols] matrix (no shape array made for the call): the output of a backend
     * op that writes every element (zeroing it first would cost a pass over memory the op then overwrites).
     */
    public Tensor empty(long rows, long cols) {
        return memory.take(rows, cols);
    }

    /** As {@link #empty(long...)} with the shape of {@code like}. */
    Tensor emptyLike(Tensor like) {
        return like.rank() == 2 ? empty(like.dim(0), like.dim(1)) : empty(like.shape());
    }

    /** No-grad mode on a workspace: marks the top of the step's memory now, for {@link #keepOnly}; -1 otherwise. */
    public long mark() {
        return recording ? -1 : memory.mark();
    }

    /**
     * No-grad mode on a workspace: frees every tensor made since {@code mark} but {@code keep}, which moves down to where
     * the freed memory began, so a model run layer by layer holds one layer's activations, not all of them (a
     * backward would need them all: recording, or without a workspace, this returns {@code keep} and frees nothing).
     * Tensors made since {@code mark} other than {@code keep} must not be used after.
     */
    public Var keepOnly(long mark, Var keep) {
        if (mark < 0 || recording) return keep;
        Tensor moved = memory.keepOnly(mark, keep.value);
        return moved == keep.value ? keep : new Var(moved, keep.requiresGrad, null);
    }

    /** Whether this tape records a backward (false: the no-grad mode). */
    public boolean recording() {
        return recording;
    }

    /** Bytes of activations, saved tensors and gradients this step has made so far. */
    public long allocatedBytes() {
        return memory.allocated();
    }

    /** An input; {@code requiresGrad} asks for its gradient (to attack or explain the input). */
    public Var input(Tensor value, boolean requiresGrad) {
        return new Var(value, recording && requiresGrad, null);
    }

    /** Whether trainable parameters get gradients on this tape (it records, and was asked to). */
    public boolean parameterGradients() {
        return recording && parameterGradients;
    }

    /** A parameter: its gradient accumulates into the parameter's own when it is trainable. */
    public Var param(Parameter p) {
        boolean g = recording && parameterGradients && p.trainable();
        if (g && apart != null) return apart.param(p);
        return new Var(p.value(), g, g ? p.grad() : null);
    }

    Var result(Tensor value, Var... inputs) {
        boolean g = false;
        for (Var v : inputs) if (v != null && v.requiresGrad) g = true;
        return new Var(value, g, null);
    }

    /** The gradient tensor of v, made (zeroed, in the step arena, in v's memory) on first use. */
    Tensor gradOf(Var v) {
        if (v.gradShared) { // about to be added into: a copy of its own first
            Tensor own = emptyLike(v.value);
            own.copyFrom(v.grad);
            v.grad = own;
            v.gradShared = false;
        }
        if (v.grad == null) v.grad = v.value.memory() == backend.memory() ? zeros(v.value.shape()) : v.value.memory().zeros(arena, DType.F32, v.value.shape());
        return v.grad;
    }

    /**
     * v's gradient for an op about to add into it or write it (a GEMM, GELU's, LayerNorm's, attention's backward), and
     * the beta it takes: when v has none yet, a new tensor left unwritten and beta 0 (the op writes it whole, as BLAS
     * does with beta 0, and no pass zeroes it first: MiniLM's LoRA step 2-4% faster on one thread); else v's gradient
     * and beta 1. In another memory than the backend's, zeroed as gradOf.
     */
    float gradBeta(Var v) {
        boolean fresh = gradIsNew(v);
        v.grad = fresh ? emptyLike(v.value) : gradOf(v);
        return fresh ? 0f : 1f;
    }

    /** Whether v has no gradient yet and would get one in the backend's memory: an op may then write it whole. */
    boolean gradIsNew(Var v) {
        return v.grad == null && v.value.memory() == backend.memory();
    }

    /**
     * Adds g into v's gradient. The first contribution is g itself, shared ({@link Var#gradShared}): g is a gradient no
     * op writes any more (an add's output's, its consumers' backward done), and {@link #gradOf} copies it only if more
     * comes (a residual add's two operands each took a copy of the output's gradient: 75 MB a MiniLM LoRA step at batch
     * 16, one thread's memcpy while the other waited).
     */
    void accumulateGrad(Var v, Tensor g) {
        if (gradIsNew(v) && g.isContiguous()) {
            v.grad = g;
            v.gradShared = true;
        } else {
            backend.axpy(1f, g, gradOf(v));
        }
    }

    boolean needs(Var v) {
        return v != null && v.requiresGrad;
    }

    void record(Var out, Runnable backward) {
        if (recording && out.requiresGrad) backwardOps.add(backward);
    }

    /** Runs the recorded ops in reverse, from d loss / d loss = 1 ({@code loss} a one-element value). */
    public void backward(Var loss) {
        backward(loss, 1f);
    }

    /**
     * As {@link #backward(Var)} from d loss / d loss = {@code seed}: the gradients of seed · loss, for averaging
     * several backward passes into the parameters' gradients (FreeLB's ascent steps) without another op.
     */
    public void backward(Var loss, float seed) {
        if (!recording) throw new IllegalStateException("this tape does not record (no-grad mode)");
        if (loss.value.numel() != 1) throw new IllegalArgumentException("backward needs a scalar loss, got " + loss.value);
        if (!loss.requiresGrad) throw new IllegalStateException("the loss does not depend on anything that needs a gradient");
        if (!Float.isFinite(seed)) throw new IllegalArgumentException("the gradient seed must be finite, is " + seed);
        if (loss.value.isHost()) {
            gradOf(loss).setFloat(0, seed);
        } else { // a loss kept on the backend (lossOnBackend): its seed stays a host scalar, which the loss's op reads
            loss.grad = Tensor.zeros(arena, DType.F32, 1);
            loss.grad.setFloat(0, seed);
        }
        for (int i = backwardOps.size() - 1; i >= 0; i--) backwardOps.get(i).run();
        backwardOps.clear();
    }

    // ---- ops: forward computed now, backward recorded beside it ----

    /** y [m, out] = x [m, in] wᵀ + b; w [out, in], b [out] or null. */
    public Var linear(Var x, Var w, Var b) {
        Tensor y = empty(x.value.dim(0), w.value.dim(0));
        PackedLinearWeights packed = packedWeights.get(w.value);
        if (packed != null) backend.linearPacked(x.value, packed, b == null ? null : b.value, y);
        else backend.linear(x.value, w.value, b == null ? null : b.value, y);
        Var out = result(y, x, w, b);
        record(out, () -> {
            Tensor gy = out.grad;
            if (gy == null) return;
            PackedLinearWeights wt = packed == null ? null : packed.transposed();
            if (needs(x) && wt != null) { // dx += gy w on wᵀ packed (a frozen weight: PackedLinearWeights.packWithTransposed)
                Tensor dx = empty(gy.dim(0), wt.rows());
                backend.linearPacked(gy, wt, null, dx);
                accumulateGrad(x, dx);
            } else if (needs(x)) {
                float beta = gradBeta(x);
                backend.gemm(false, false, 1f, gy, w.value, beta, x.grad); // dx += gy w
            }
            if (needs(w)) {
                float beta = gradBeta(w);
                backend.gemm(true, false, 1f, gy, x.value, beta, w.grad);  // dw += gyᵀ x
            }
            if (needs(b)) backend.sumRows(gy, gradOf(b));                               // db += Σ_rows gy
        });
        return out;
    }

    /**
     * A LoRA layer (PEFT semantics, W frozen): y = x Wᵀ + b + scale·(x̃ Aᵀ) Bᵀ, x̃ = x ⊙ mask (mask null
     * without dropout); a [r, in], bb [out, r].
     */
    public Var lora(Var x, Var w, Var b, Var a, Var bb, float scale, Tensor mask) {
        return LoraOp.lora(this, x, w, b, a, bb, scale, mask, packedWeights.get(w.value));
    }

    /** A layer that computes its own forward into y [rows of x, out] (a compressed one, {@code nn.CompressedLinear}). */
    public interface FrozenForward {
        void run(Tensor x, Tensor y);
    }

    /**
     * y [m, out] = forward(x [m, in]) for a frozen layer with its own kernel (int8, 2:4); dx = gy · w with
     * w [out, in] the layer's effective f32 weight, the straight-through gradient of a quantized layer
     * (Bengio et al. 2013): rounding is treated as the identity, so attacks and input gradients see the
     * weights the layer really applies.
     */
    public Var frozenLinear(Var x, long out, Tensor w, FrozenForward forward) {
        Tensor y = empty(x.value.dim(0), out);
        forward.run(x.value, y);
        Var result = result(y, x);
        record(result, () -> {
            if (result.grad != null && needs(x)) backend.gemm(false, false, 1f, result.grad, w, 1f, gradOf(x));
        });
        return result;
    }

    /** Several frozen layers computed by one call from the same input (an int8 query, key and value): ys[l] [rows of x, outs[l]]. */
    public interface FrozenForwards {
        void run(Tensor x, Tensor[] ys);
    }

    /** As {@link #frozenLinear} for each layer l (out outs[l], effective weight w[l]), their forwards in one call. */
    public Var[] frozenLinears(Var x, long[] outs, Tensor[] w, FrozenForwards forward) {
        Tensor[] ys = new Tensor[outs.length];
        for (int l = 0; l < outs.length; l++) ys[l] = empty(x.value.dim(0), outs[l]);
        forward.run(x.value, ys);
        Var[] results = new Var[outs.length];
        for (int l = 0; l < outs.length; l++) {
            Var result = results[l] = result(ys[l], x);
            Tensor wl = w[l];
            record(result, () -> {
                if (result.grad != null && needs(x)) backend.gemm(false, false, 1f, result.grad, wl, 1f, gradOf(x));
            });
        }
        return results;
    }

    /** a + b (same shape). */
    public Var add(Var a, Var b) {
        Tensor y = emptyLike(a.value);
        backend.add(a.value, b.value, y);
        Var out = result(y, a, b);
        record(out, () -> {
            if (out.grad == null) return;
            if (needs(a)) accumulateGrad(a, out.grad);
            if (needs(b)) accumulateGrad(b, out.grad);
        });
        return out;
    }

    /** GELU, tanh form (as in ViT). */
    public Var gelu(Var x) {
        return gelu(x, false);
    }

    /** GELU, the erf form when {@code exact} (BERT's "gelu"), else the tanh form ("gelu_new"). */
    public Var gelu(Var x, boolean exact) {
        Tensor y = emptyLike(x.value);
        backend.geluForward(x.value, y, exact);
        Var out = result(y, x);
        record(out, () -> {
            if (out.grad != null && needs(x)) {
                boolean adds = gradBeta(x) != 0f;
                backend.geluBackward(x.value, out.grad, x.grad, exact, adds);
            }
        });
        return out;
    }

    /** LayerNorm over each row of x [m, n]; gamma, beta [n]. */
    public Var layerNorm(Var x, Var gamma, Var beta, float eps) {
        long m = x.value.dim(0);
        Tensor y = emptyLike(x.value), mean = empty(m), rstd = empty(m);
        backend.layerNormForward(x.value, gamma.value, beta.value, eps, y, mean, rstd);
        Var out = result(y, x, gamma, beta);
        record(out, () -> {
            if (out.grad == null) return;
            boolean adds = !needs(x) || gradBeta(x) != 0f;
            backend.layerNormBackward(x.value, gamma.value, mean, rstd, out.grad, needs(x) ? x.grad : null,
                    needs(gamma) ? gradOf(gamma) : null, needs(beta) ? gradOf(beta) : null, adds);
        });
        return out;
    }

    /**
     * LayerNorm(a + b) (a post-LN block's sublayer output and its residual): one fused op when the tape does not record;
     * recorded, the add and the LayerNorm as two ops, whose backward reads the sum.
     */
    public Var addLayerNorm(Var a, Var b, Var gamma, Var beta, float eps) {
        if (recording) return layerNorm(add(a, b), gamma, beta, eps);
        long m = a.value.dim(0);
        Tensor y = emptyLike(a.value), mean = empty(m), rstd = empty(m);
        backend.addLayerNormForward(a.value, b.value, gamma.value, beta.value, eps, y, mean, rstd);
        return result(y, a, b, gamma, beta);
    }

    /** Mean softmax cross-entropy of logits [m, classes] against labels [m] (I32); a one-element result. */
    public Var crossEntropy(Var logits, Tensor labels, float smoothing) {
        Tensor probs = empty(logits.value.shape());
        Tensor loss = lossOnBackend ? empty(1) : Tensor.zeros(arena, DType.F32, 1); // a host scalar, unless kept on the backend
        if (lossOnBackend) backend.crossEntropyLoss(logits.value, labels, smoothing, probs, loss);
        else loss.setFloat(0, backend.crossEntropyForward(logits.value, labels, smoothing, probs));
        Var out = result(loss, logits);
        record(out, () -> {
            if (out.grad != null && needs(logits)) backend.crossEntropyBackward(probs, labels, smoothing, hostScalar(out.grad), gradOf(logits));
        });
        return out;
    }

    /** dloss, a host scalar: a loss kept on the backend is only ever the root of backward, whose seed stays on the host. */
    private static float hostScalar(Tensor grad) {
        if (!grad.isHost()) throw new IllegalStateException("a loss kept in the backend's memory (Tape.lossOnBackend) must be the root of backward, not an operand");
        return grad.getFloat(0);
    }

    /** Rows {@code offset}, offset + stride, ... of x [n·stride, d] → [n, d] (a ViT's class tokens). */
    public Var everyNthRow(Var x, long stride, long offset) {
        long n = x.value.dim(0) / stride, d = x.value.dim(1);
        Tensor y = empty(n, d);
        y.copyFrom(x.value.reshape(n, stride * d).view(0, offset * d, n, d)); // rows stride·d apart
        Var out = result(y, x);
        record(out, () -> {
            if (out.grad == null || !needs(x)) return;
            Tensor gx = gradOf(x);
            for (long i = 0; i < n; i++) backend.axpy(1f, out.grad.view(i, 0, 1, d), gx.view(i * stride + offset, 0, 1, d));
        });
        return out;
    }

    /**
     * An inverted-dropout mask [rows, cols] for probability p (0 or 1/(1-p)), from a seeded generator (a micro-batch's
     * tape: its own); null when p = 0.
     */
    public Tensor dropoutMask(long rows, long cols, float p, SplittableRandom rng) {
        if (p <= 0f) return null;
        if (random != null) rng = random;
        Tensor mask = hostTensor(false, rows, cols);
        float keep = 1f / (1f - p);
        MemorySegment s = mask.segment();
        for (long i = 0; i < rows * cols; i++) s.setAtIndex(ValueLayout.JAVA_FLOAT, i, rng.nextFloat() < p ? 0f : keep);
        return onBackend(mask);
    }

    @Override
    public void close() {
        backwardOps.clear();
        memory.close();
        arena.close();
        if (workspace != null) workspace.release(memory.needPeak());
    }
}
