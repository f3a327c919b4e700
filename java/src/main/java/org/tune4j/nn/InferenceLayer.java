package org.tune4j.nn;

import org.tune4j.backend.Activation;
import org.tune4j.backend.Backend;
import org.tune4j.tensor.Tensor;

/**
 * A linear layer run straight on tensors, without a tape, into buffers the caller prepared: a compressed layer's
 * tape forward ({@link CompressedLinear#forward}), the quantization study's output error, the inference bench's MLP
 * block. (A model serves through its tape forward in no-grad mode.) Implemented by {@link Linear}, {@link LoraLinear} (merged or not),
 * {@link CompressedLinear} (int8, 2:4 or int8 2:4, with or without an unmerged adapter) and {@link SparseLinear}.
 */
public interface InferenceLayer {
    int in();

    int out();

    /** Columns of scratch {@link #infer} needs per input row (an unmerged adapter's rank), 0 for none. */
    int scratchColumns();

    /** y [m, out] = act(layer(x [m, in])); scratch [m, scratchColumns()], null when that is 0. */
    void infer(Backend backend, Tensor x, Tensor y, Activation act, Tensor scratch);

    /** Applies {@code act} in place, for kernels that have no fused epilogue. */
    static void activate(Backend backend, Tensor y, Activation act) {
        switch (act) {
            case NONE -> {}
            case RELU -> backend.reluForward(y, y);
            case GELU -> backend.geluForward(y, y, false);
            case GELU_ERF -> backend.geluForward(y, y, true);
        }
    }
}
