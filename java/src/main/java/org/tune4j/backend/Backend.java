package org.tune4j.backend;

import org.tune4j.tensor.Tensor;

/**
 * The kernel-level operations tune4j's layers are built from. {@link ReferenceBackend} is the plain
 * Java oracle the others are tested against; {@link CpuBackend} runs the native kernels.
 *
 * <p>Matrices are F32, row-major; {@code gemm} accepts any leading dimension ({@link Tensor#view}),
 * the LoRA ops need contiguous tensors. Every op checks shapes, dtypes and that the memory is still
 * alive before it runs, and throws {@link IllegalArgumentException} naming the argument; {@code null}
 * is allowed only where a parameter says so. Backward ops accumulate ({@code +=}) into gradients.
 */
public interface Backend {
    /** A short name for tables: "reference", "cpu-avx512", ... */
    String name();

    /**
     * C = alpha·op(A)·op(B) + beta·C, where op(A) is A or Aᵀ. op(A) is m×k, op(B) k×n, C m×n. With
     * beta = 0 C is only written (NaN in C does not propagate).
     */
    void gemm(boolean transA, boolean transB, float alpha, Tensor a, Tensor b, float beta, Tensor c);

    /**
     * LoRA forward (PEFT semantics): y = x Wᵀ + bias + s·(x̃ Aᵀ) Bᵀ with x̃ = x ⊙ mask, and h = x̃ Aᵀ
     * written for the backward pass.
     *
     * @param x [t, d_in]
     * @param mask [t, d_in] dropout mask (0 or 1/(1-p)), or null for no dropout
     * @param w [d_out, d_in], frozen
     * @param bias [d_out], or null
     * @param a [r, d_in]
     * @param b [d_out, r]
     * @param scale s = alpha/r (or alpha/√r for rsLoRA)
     * @param h [t, r], written
     * @param y [t, d_out], written
     */
    void loraForward(Tensor x, Tensor mask, Tensor w, Tensor bias, Tensor a, Tensor b, float scale, Tensor h, Tensor y);

    /**
     * LoRA backward with W frozen: da += s·(g B)ᵀ x̃, db += s·gᵀ h, dx += g W + mask ⊙ (s·(g B) A).
     * Arguments as in {@link #loraForward}; g [t, d_out] is dL/dy; dx [t, d_in] may be null.
     */
    void loraBackward(Tensor x, Tensor mask, Tensor w, Tensor a, Tensor b, float scale, Tensor h, Tensor g, Tensor dx, Tensor da, Tensor db);

    /** W += sign·s·B A in place: sign +1 merges the adapter into W, -1 takes it out again. */
    void loraMerge(Tensor w, Tensor a, Tensor b, float scale, float sign);
}
