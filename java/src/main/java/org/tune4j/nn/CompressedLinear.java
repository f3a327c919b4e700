package org.tune4j.nn;

import java.lang.foreign.Arena;
import java.util.LinkedHashMap;
import java.util.Map;
import org.tune4j.autograd.Tape;
import org.tune4j.autograd.Var;
import org.tune4j.backend.Activation;
import org.tune4j.backend.Backend;
import org.tune4j.backend.Int8Weights;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * A frozen linear layer compressed onto the native kernels: int8 weights (per output channel, activations
 * quantized per token by the kernel), 2:4 sparse weights, or both (2:4 int8 weights on the int8 kernel's
 * 2:4 packing, which multiplies only the kept half), optionally under an unmerged f32 LoRA adapter
 * (y = base(x) + s·(x Aᵀ) Bᵀ: the adapter that recovered a pruned base's accuracy stays outside it, since
 * merging would fill the pruned zeros). Inference only; input gradients (for attacks) go through the
 * effective weight W' = dequantized-or-pruned W + s·B A, straight through the rounding.
 */
public final class CompressedLinear extends Module implements Layer, InferenceLayer {
    /** How the base weight is stored. */
    public enum Format {
        INT8("int8"),
        TWO_FOUR("2:4"),
        INT8_TWO_FOUR("int8 2:4");

        private final String label;

        Format(String label) {
            this.label = label;
        }

        public String label() {
            return label;
        }

        public static Format of(String label) {
            for (Format f : values()) if (f.label.equals(label)) return f;
            throw new IllegalArgumentException("unknown compressed format '" + label + "' (int8, 2:4 or int8 2:4)");
        }

        boolean isInt8() {
            return this != TWO_FOUR;
        }
    }

    private final Format format;
    private final Int8Linear int8;
    private final SparseLinear sparse;
    private final Tensor storedWeight; // I8 values (int8, int8 2:4) or the pruned f32 weight (2:4), as saved
    private final Tensor scales;       // int8 and int8 2:4 only
    private final Tensor bias;
    private final Tensor loraA;        // [r, in] or null
    private final Tensor loraB;        // [out, r] or null
    private final Tensor loraBt;       // Bᵀ [r, out], what the up-projection reads at inference
    private final float loraScale;
    private final Tensor effective;    // W' [out, in] f32, for input gradients
    private final double relativeError;

    private CompressedLinear(Format format, Int8Linear int8, SparseLinear sparse, Tensor storedWeight, Tensor scales, Tensor bias,
            Tensor loraA, Tensor loraB, Tensor loraBt, float loraScale, Tensor effective, double relativeError) {
        this.format = format;
        this.int8 = int8;
        this.sparse = sparse;
        this.storedWeight = storedWeight;
        this.scales = scales;
        this.bias = bias;
        this.loraA = loraA;
        this.loraB = loraB;
        this.loraBt = loraBt;
        this.loraScale = loraScale;
        this.effective = effective;
        this.relativeError = relativeError;
    }

    /**
     * Compresses a dense weight w [out, in] with bias [out] (or null) into {@code arena}: int8 per output
     * channel, 2:4 (the 2 largest |w| of each 4 along the input; in must be a multiple of 4), or 2:4 then
     * int8. An adapter (a [r, in], b [out, r], scale s) stays unmerged beside it, or pass nulls. Everything
     * is copied.
     */
    public static CompressedLinear compress(Arena arena, Backend backend, Format format, Tensor w, Tensor bias, Tensor a, Tensor b, float scale) {
        if (format == null) throw new IllegalArgumentException("format is null");
        if (w == null || w.rank() != 2 || w.dtype() != DType.F32) throw new IllegalArgumentException("w must be an F32 matrix, is " + w);
        if ((a == null) != (b == null)) throw new IllegalArgumentException("an adapter needs both lora_A and lora_B");
        Tensor biasCopy = copy(arena, bias);
        if (format == Format.INT8) {
            Int8Weights q = Int8Weights.quantize(arena, backend, w);
            return finish(arena, backend, format, Int8Linear.of(q, biasCopy), null, q.values(), q.scales(), biasCopy, a, b, scale, w);
        }
        if (w.dim(1) % 4 != 0) throw new IllegalArgumentException("2:4 needs the input size to be a multiple of 4, is " + w.dim(1));
        Tensor pruned = w.copy(arena);
        try (Arena scratch = Arena.ofConfined()) {
            Tensor mask = Tensor.zeros(scratch, DType.I8, w.dim(0), w.dim(1));
            backend.mask2to4(w, mask);
            backend.applyMask(pruned, mask);
        }
        if (format == Format.INT8_TWO_FOUR) {
            Int8Weights q = Int8Weights.quantizeTwoFour(arena, backend, pruned);
            return finish(arena, backend, format, Int8Linear.of(q, biasCopy), null, q.values(), q.scales(), biasCopy, a, b, scale, w);
        }
        SparseLinear s = SparseLinear.fromDense(arena, backend, pruned, biasCopy, SparseLinear.Format.TWO_FOUR, 0).layer();
        return finish(arena, backend, format, null, s, pruned, null, biasCopy, a, b, scale, w);
    }

    /**
     * A layer from its saved tensors ({@link #tensors}): "weight" (I8 values for int8 and int8 2:4, the
     * pruned F32 weight for 2:4), "weight_scale" (int8, int8 2:4), optional "bias", "lora_A", "lora_B";
     * copied into {@code arena}.
     */
    public static CompressedLinear load(Arena arena, Backend backend, Format format, Map<String, Tensor> t, float loraScale) {
        Tensor w = t.get("weight");
        if (w == null || w.rank() != 2) throw new IllegalArgumentException("a compressed layer needs a 2-d 'weight', has " + w);
        Tensor a = t.get("lora_A"), b = t.get("lora_B");
        if ((a == null) != (b == null)) throw new IllegalArgumentException("an adapter needs both 'lora_A' and 'lora_B', has only " + (a == null ? "lora_B" : "lora_A"));
        if (a != null && !Float.isFinite(loraScale)) throw new IllegalArgumentException("the adapter's scale is " + loraScale);
        if (format == Format.TWO_FOUR) {
            if (w.dtype() != DType.F32) throw new IllegalArgumentException("a 2:4 layer's weight must be F32, is " + w);
            requireTwoFour(w);
            return compress(arena, backend, format, w, t.get("bias"), a, b, loraScale);
        }
        Tensor s = t.get("weight_scale");
        if (w.dtype() != DType.I8) throw new IllegalArgumentException("an int8 layer's weight must be I8, is " + w);
        if (s == null || s.dtype() != DType.F32 || s.numel() != w.dim(0)) {
            throw new IllegalArgumentException("an int8 layer needs an F32 'weight_scale' of " + w.dim(0) + " values, has " + s);
        }
        Tensor q = w.copy(arena);
        Tensor scales = copy(arena, s);
        Tensor biasCopy = copy(arena, t.get("bias"));
        Int8Weights packed = format == Format.INT8_TWO_FOUR ? Int8Weights.ofTwoFour(arena, q, scales) : Int8Weights.of(arena, q, scales);
        Int8Linear layer = Int8Linear.of(packed, biasCopy);
        return finish(arena, backend, format, layer, null, q, scales, biasCopy, a, b, loraScale, null);
    }

    /** A weight stored as 2:4 must be 2:4 already (at most 2 nonzeros in each group of 4 along a row); pruning it here would change the model. */
    private static void requireTwoFour(Tensor w) {
        for (long i = 0; i < w.dim(0); i++) {
            for (long j0 = 0; j0 < w.dim(1); j0 += 4) {
                int nonzero = 0;
                for (long j = j0; j < Math.min(j0 + 4, w.dim(1)); j++) if (w.getFloat(i, j) != 0f) nonzero++;
                if (nonzero > 2) throw new IllegalArgumentException("the weight is labelled 2:4 but row " + i + " has " + nonzero + " nonzeros in columns " + j0 + "-" + (j0 + 3));
            }
        }
    }

    /** original: the f32 weight compressed, for the weight error (null for a loaded layer, whose original is gone). */
    private static CompressedLinear finish(Arena arena, Backend backend, Format format, Int8Linear int8, SparseLinear sparse, Tensor stored,
            Tensor scales, Tensor bias, Tensor a, Tensor b, float scale, Tensor original) {
        long out = stored.dim(0), in = stored.dim(1);
        if (bias != null && bias.numel() != out) throw new IllegalArgumentException("bias has " + bias.numel() + " values for " + out + " outputs");
        Tensor effective = Tensor.zeros(arena, DType.F32, out, in);
        if (format.isInt8()) backend.dequantizeRows(stored, scales, effective);
        else effective.copyFrom(stored);
        double error = original == null ? Double.NaN : WeightError.relative(original, effective);
        Tensor aCopy = null, bCopy = null;
        if (a != null) {
            if (a.rank() != 2 || a.dim(1) != in || b.rank() != 2 || b.dim(0) != out || b.dim(1) != a.dim(0)) {
                throw new IllegalArgumentException("adapter shapes " + a + " and " + b + " do not fit a " + out + "x" + in + " layer");
            }
            aCopy = copy(arena, a);
            bCopy = copy(arena, b);
            backend.loraMerge(effective, aCopy, bCopy, scale, 1f);
        }
        return new CompressedLinear(format, int8, sparse, stored, scales, bias, aCopy, bCopy, bCopy == null ? null : bCopy.transposed(arena), scale,
                effective, error);
    }

    private static Tensor copy(Arena arena, Tensor t) {
        return t == null ? null : t.copy(arena);
    }

    @Override
    public Var forward(Tape t, Var x) {
        return forward(t, x, Activation.NONE);
    }

    /** The activation in the kernel's epilogue when the tape does not record (see {@link Layer#forward(Tape, Var, Activation)}). */
    @Override
    public Var forward(Tape t, Var x, Activation act) {
        if (act != Activation.NONE && t.recording()) return Layer.super.forward(t, x, act);
        return t.frozenLinear(x, out(), effective, (xv, y) -> infer(t.backend(), xv, y, act, loraA == null ? null : t.empty(xv.dim(0), loraA.dim(0)))); // h: written whole (beta 0)
    }

    /**
     * Layers applied to one input by one int8 call that quantizes it once (a BERT layer's query, key and value: 1-2% of
     * the int8 projections' time; BENCHMARKS.md "int8 on AVX2"), each as {@link #forward(Tape, Var)}; null when one
     * is not a plain int8 layer (an adapter, 2:4 without int8, another kind), or they mix dense and 2:4 packings.
     */
    public static Var[] forwardShared(Tape t, Var x, Layer... layers) {
        if (!(layers[0] instanceof CompressedLinear first) || first.int8 == null) return null; // an f32 model: nothing made per call
        Int8Linear[] int8s = new Int8Linear[layers.length];
        long[] outs = new long[layers.length];
        Tensor[] effective = new Tensor[layers.length];
        for (int l = 0; l < layers.length; l++) {
            if (!(layers[l] instanceof CompressedLinear c) || c.int8 == null || c.loraA != null || c.format != first.format) return null;
            int8s[l] = c.int8;
            outs[l] = c.out();
            effective[l] = c.effective;
        }
        return t.frozenLinears(x, outs, effective, (xv, ys) -> Int8Linear.forwardShared(t.backend(), xv, int8s, ys, Activation.NONE));
    }

    @Override
    public void infer(Backend backend, Tensor x, Tensor y, Activation act, Tensor scratch) {
        if (loraA == null) {
            if (int8 != null) int8.forward(backend, x, y, act);
            else sparse.forward(backend, x, y, act);
            return;
        }
        if (int8 != null) int8.forward(backend, x, y, Activation.NONE);
        else sparse.forward(backend, x, y, Activation.NONE);
        backend.gemm(false, true, 1f, x, loraA, 0f, scratch); // h = x Aᵀ   [m, r]
        backend.lowRankAdd(scratch, loraBt, loraScale, y);    // y += s h Bᵀ (a GEMM with K = r would pack both operands for a few products)
        InferenceLayer.activate(backend, y, act);
    }

    @Override
    public int in() {
        return (int) storedWeight.dim(1);
    }

    @Override
    public int out() {
        return (int) storedWeight.dim(0);
    }

    @Override
    public int scratchColumns() {
        return loraA == null ? 0 : (int) loraA.dim(0);
    }

    public Format format() {
        return format;
    }

    public boolean hasAdapter() {
        return loraA != null;
    }

    public float loraScale() {
        return loraScale;
    }

    /** ‖W_compressed − W‖ / ‖W‖ at compression (NaN for a loaded layer, whose f32 original is gone). */
    public double relativeError() {
        return relativeError;
    }

    /** The effective f32 weight W' [out, in] (base as compressed, plus the adapter). */
    public Tensor effectiveWeight() {
        return effective;
    }

    /**
     * Bytes of the weights the kernels read: int8 values + scales; 2:4 f32 values + one position byte per
     * 4; int8 2:4 kept values + one position byte each (the shuffle's operand) + scales.
     */
    public long weightBytes() {
        long n = storedWeight.dim(0), k = storedWeight.dim(1);
        long base = switch (format) {
            case INT8 -> n * k + 4 * n;
            case TWO_FOUR -> n * (k / 2) * 4 + n * (k / 4);
            case INT8_TWO_FOUR -> n * (k / 2) * 2 + 4 * n;
        };
        long adapter = loraA == null ? 0 : 4 * (loraA.numel() + loraB.numel());
        return base + adapter + (bias == null ? 0 : 4 * n);
    }

    /** What is saved: "weight", "weight_scale" (int8), "bias", "lora_A", "lora_B" where present. */
    public Map<String, Tensor> tensors() {
        Map<String, Tensor> m = new LinkedHashMap<>();
        m.put("weight", storedWeight);
        if (scales != null) m.put("weight_scale", scales);
        if (bias != null) m.put("bias", bias);
        if (loraA != null) {
            m.put("lora_A", loraA);
            m.put("lora_B", loraB);
        }
        return m;
    }
}
