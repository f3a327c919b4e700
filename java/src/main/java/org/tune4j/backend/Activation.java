package org.tune4j.backend;

import org.tune4j.bindings.tune4j_h;

/** Activations fused into the epilogue of the int8 (and later sparse) linear kernels. */
public enum Activation {
    NONE(tune4j_h.T4J_ACT_NONE),
    RELU(tune4j_h.T4J_ACT_RELU),
    /** GELU, tanh form: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) (GPT-2's; Hugging Face's "gelu_new"). */
    GELU(tune4j_h.T4J_ACT_GELU),
    /** GELU, erf form: 0.5·x·(1 + erf(x/√2)) (BERT's; Hugging Face's "gelu"). */
    GELU_ERF(tune4j_h.T4J_ACT_GELU_ERF);

    private final int code;

    Activation(int code) {
        this.code = code;
    }

    int code() {
        return code;
    }

    /** The activation of one value, in float as the kernels compute it. */
    public float apply(float v) {
        return switch (this) {
            case NONE -> v;
            case RELU -> v > 0f || Float.isNaN(v) ? v : 0f; // a NaN stays NaN, as in PyTorch and every kernel
            case GELU -> {
                float c = 0.7978845608028654f;
                yield 0.5f * v * (1f + (float) Math.tanh(c * (v + 0.044715f * v * v * v)));
            }
            case GELU_ERF -> (float) ReferenceBackend.gelu(v, true);
        };
    }
}
