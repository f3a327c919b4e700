package org.tune4j.nn;

import java.lang.foreign.Arena;
import org.tune4j.backend.Activation;
import org.tune4j.backend.Backend;
import org.tune4j.backend.CsrWeights;
import org.tune4j.backend.Sparse24Weights;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * An inference linear layer y = act(x Wᵀ + b) with W pruned: unstructured magnitude pruning stored as
 * CSR, or 2:4 structured pruning along the input dimension.
 */
public final class SparseLinear implements InferenceLayer {
    /** How the weights are pruned and stored. */
    public enum Format {
        /** Magnitude pruning to any sparsity, CSR. */
        CSR,
        /** 2 of every 4 consecutive input weights kept (50%). */
        TWO_FOUR
    }

    private final CsrWeights csr;
    private final Sparse24Weights twoFour;
    private final Tensor bias;

    private SparseLinear(CsrWeights csr, Sparse24Weights twoFour, Tensor bias) {
        this.csr = csr;
        this.twoFour = twoFour;
        this.bias = bias;
    }

    /**
     * Prunes a dense layer (w [out, in], bias [out] or null) into {@code arena}: the smallest-magnitude
     * {@code sparsity} of the weights for CSR (0 ≤ sparsity &lt; 1); {@code sparsity} is ignored for 2:4.
     */
    public static Conversion<SparseLinear> fromDense(Arena arena, Backend backend, Tensor w, Tensor bias, Format format, double sparsity) {
        if (format == null) throw new IllegalArgumentException("format is null");
        if (!(sparsity >= 0 && sparsity < 1)) throw new IllegalArgumentException("sparsity must be in [0, 1), is " + sparsity);
        Tensor biasCopy = bias == null ? null : bias.copy(arena);
        try (Arena scratch = Arena.ofConfined()) {
            Tensor pruned = w.copy(scratch);
            Tensor mask = Tensor.zeros(scratch, DType.I8, w.dim(0), w.dim(1));
            if (format == Format.CSR) {
                float threshold = backend.magnitudeThreshold(w, Math.round(sparsity * w.numel()));
                backend.magnitudeMask(w, threshold, mask);
            } else {
                backend.mask2to4(w, mask);
            }
            backend.applyMask(pruned, mask);
            SparseLinear layer = format == Format.CSR
                    ? new SparseLinear(CsrWeights.fromDense(arena, pruned), null, biasCopy)
                    : new SparseLinear(null, Sparse24Weights.fromDense(arena, w), biasCopy);
            return new Conversion<>(layer, WeightError.relative(w, pruned), WeightError.sparsity(pruned));
        }
    }

    /** y [m, out] = act(x [m, in] Wᵀ + b). */
    public void forward(Backend backend, Tensor x, Tensor y, Activation act) {
        if (csr != null) backend.csrLinear(x, csr, bias, act, y);
        else backend.sparse24Linear(x, twoFour, bias, act, y);
    }

    @Override
    public int in() {
        return (int) (csr != null ? csr.cols() : twoFour.cols());
    }

    @Override
    public int out() {
        return (int) (csr != null ? csr.rows() : twoFour.rows());
    }

    @Override
    public int scratchColumns() {
        return 0;
    }

    @Override
    public void infer(Backend backend, Tensor x, Tensor y, Activation act, Tensor scratch) {
        forward(backend, x, y, act);
    }
}
