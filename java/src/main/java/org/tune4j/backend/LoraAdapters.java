package org.tune4j.backend;

import java.util.List;
import org.tune4j.tensor.Tensor;

/**
 * The LoRA adapters of one layer that the rows of a mixed batch use (tune4j.h "lora mixed"): adapter i is
 * A_i [r_i, d_in], B_i [d_out, r_i] and its scale s_i; ranks may differ. Shapes are checked here, once; each
 * op checks that the memory is still alive, so an adapter unloaded before a batch fails by name. The kernels get
 * the factors' addresses in an array, which does not keep their memory alive: whoever unloads adapters must wait
 * for the batches that use them (the serving registry's leases).
 */
public record LoraAdapters(List<Tensor> a, List<Tensor> b, float[] scales) {
    public LoraAdapters {
        if (a == null || b == null || scales == null) throw new IllegalArgumentException("a, b and scales are required");
        if (a.isEmpty()) throw new IllegalArgumentException("no adapters");
        if (a.size() != b.size() || a.size() != scales.length) {
            throw new IllegalArgumentException(a.size() + " A factors, " + b.size() + " B factors and " + scales.length + " scales: one of each per adapter");
        }
        a = List.copyOf(a);
        b = List.copyOf(b);
        scales = scales.clone();
        for (int i = 0; i < a.size(); i++) {
            String n = "adapter " + i;
            factor(n + "'s A", a.get(i), a.get(i).rank() == 2 ? a.get(i).dim(0) : -1, a.get(0).dim(1));
            factor(n + "'s B", b.get(i), b.get(0).rank() == 2 ? b.get(0).dim(0) : -1, a.get(i).dim(0));
            BackendChecks.finite(n + "'s scale", scales[i]);
        }
    }

    /** F32 [rows, cols], contiguous, in any memory (the op's backend checks where it lives). */
    private static void factor(String name, Tensor t, long rows, long cols) {
        if (t == null) throw new IllegalArgumentException(name + " is null");
        if (t.dtype() != org.tune4j.tensor.DType.F32 || t.rank() != 2 || t.dim(0) != rows || t.dim(1) != cols || !t.isContiguous() || rows < 1) {
            throw new IllegalArgumentException(name + " must be a contiguous F32 " + rows + "x" + cols + " matrix, is " + t);
        }
    }

    /** The same adapters with every factor replaced by {@code move.apply(factor)} (a host copy, for a fallback). */
    public LoraAdapters map(java.util.function.UnaryOperator<Tensor> move) {
        return new LoraAdapters(a.stream().map(move).toList(), b.stream().map(move).toList(), scales);
    }

    public int count() {
        return a.size();
    }

    public long dIn() {
        return a.get(0).dim(1);
    }

    public long dOut() {
        return b.get(0).dim(0);
    }

    public long rank(int i) {
        return a.get(i).dim(0);
    }

    public long maxRank() {
        long r = 0;
        for (Tensor t : a) r = Math.max(r, t.dim(0));
        return r;
    }

    /** Still allocated and on the host, every factor (an adapter unloaded under a batch is refused here, by index). */
    void checkHost() {
        for (int i = 0; i < a.size(); i++) {
            BackendChecks.memory("adapter " + i + "'s A", a.get(i));
            BackendChecks.memory("adapter " + i + "'s B", b.get(i));
        }
    }
}
