package org.tune4j.nn;

import java.lang.foreign.Arena;
import org.tune4j.backend.Activation;
import org.tune4j.backend.Backend;
import org.tune4j.backend.Int8Weights;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * An inference linear layer y = act(x Wᵀ + b) with W quantized to int8 per output channel, run by the
 * dynamic int8 kernel (x quantized per row) at every batch size and SIMD level: the weight-only kernel
 * ({@link Backend#int8WeightOnlyLinear}, x kept f32) is 1.4 to 3.5 times slower at 1 to 8 rows on every level
 * (AVX-512 VNNI, AVX2, portable; BENCHMARKS.md, "int8 on AVX2").
 */
public final class Int8Linear {
    private final Int8Weights weights;
    private final Tensor bias;

    private Int8Linear(Int8Weights weights, Tensor bias) {
        this.weights = weights;
        this.bias = bias;
    }

    /** Quantizes a dense layer (w [out, in], bias [out] or null) into {@code arena}, reporting the weight error. */
    public static Conversion<Int8Linear> fromDense(Arena arena, Backend backend, Tensor w, Tensor bias) {
        Int8Weights q = Int8Weights.quantize(arena, backend, w);
        try (Arena scratch = Arena.ofConfined()) {
            Tensor back = Tensor.zeros(scratch, DType.F32, w.dim(0), w.dim(1));
            backend.dequantizeRows(q.values(), q.scales(), back);
            Tensor biasCopy = bias == null ? null : bias.copy(arena);
            return new Conversion<>(new Int8Linear(q, biasCopy), WeightError.relative(w, back), WeightError.sparsity(back));
        }
    }

    /** A layer from weights already quantized (a loaded model); {@code bias} [out] or null is used as is. */
    public static Int8Linear of(Int8Weights weights, Tensor bias) {
        if (weights == null) throw new IllegalArgumentException("weights is null");
        if (bias != null && (bias.numel() != weights.rows() || bias.dtype() != DType.F32)) {
            throw new IllegalArgumentException("bias must be F32 of " + weights.rows() + " values, is " + bias);
        }
        return new Int8Linear(weights, bias);
    }

    public Int8Weights weights() {
        return weights;
    }

    /** ys[l] [m, out of layer l] = act(x [m, in] W_lᵀ + b_l) for every layer, x quantized once (Backend#int8LinearShared). */
    public static void forwardShared(Backend backend, Tensor x, Int8Linear[] layers, Tensor[] ys, Activation act) {
        Int8Weights[] w = new Int8Weights[layers.length];
        Tensor[] b = new Tensor[layers.length];
        for (int l = 0; l < layers.length; l++) {
            w[l] = layers[l].weights;
            b[l] = layers[l].bias;
        }
        backend.int8LinearShared(x, w, b, act, ys);
    }

    /** y [m, out] = act(x [m, in] Wᵀ + b). */
    public void forward(Backend backend, Tensor x, Tensor y, Activation act) {
        backend.int8Linear(x, weights, bias, act, y);
    }
}
