package org.tune4j.nn;

import java.lang.foreign.Arena;
import org.tune4j.backend.Activation;
import org.tune4j.backend.Backend;
import org.tune4j.backend.CpuBackend;
import org.tune4j.backend.Int8Weights;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * An inference linear layer y = act(x Wᵀ + b) with W quantized to int8 per output channel, run by the
 * dynamic int8 kernel (x quantized per row). Without VNNI (the AVX2 and portable kernels widen to int16),
 * batches of up to {@value #WEIGHT_ONLY_MAX_ROWS} rows run the weight-only kernel instead (x stays f32),
 * which is faster there; with VNNI the dynamic kernel's small-batch tiles are faster at any batch.
 */
public final class Int8Linear {
    /** Up to this many rows the weight-only kernel is used, where the CPU has no VNNI. */
    public static final int WEIGHT_ONLY_MAX_ROWS = 8;

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

    /** y [m, out] = act(x [m, in] Wᵀ + b). */
    public void forward(Backend backend, Tensor x, Tensor y, Activation act) {
        boolean small = x != null && x.rank() == 2 && x.dim(0) <= WEIGHT_ONLY_MAX_ROWS;
        if (small && !weights.isTwoFour() && !(backend instanceof CpuBackend && CpuBackend.int8Vnni())) backend.int8WeightOnlyLinear(x, weights, bias, act, y);
        else backend.int8Linear(x, weights, bias, act, y);
    }
}
