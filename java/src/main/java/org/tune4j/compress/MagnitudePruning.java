package org.tune4j.compress;

import java.lang.foreign.Arena;
import java.util.List;
import org.tune4j.backend.Backend;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * Magnitude pruning: the weights of smallest |w| go to zero, either per layer (each layer loses the same
 * fraction) or with one global threshold over several layers (layers with many small weights lose more).
 */
public final class MagnitudePruning {
    private MagnitudePruning() {}

    /** Masks (I8, one per weight matrix) that prune {@code sparsity} of each layer's weights. */
    public static List<Tensor> perLayerMasks(Arena arena, Backend backend, List<Tensor> weights, double sparsity) {
        checkSparsity(sparsity);
        return weights.stream().map(w -> {
            Tensor mask = Tensor.zeros(arena, DType.I8, w.dim(0), w.dim(1));
            layerMask(backend, w, sparsity, mask);
            return mask;
        }).toList();
    }

    /** mask [n, k] (I8) = 1 where |w| is above the {@code sparsity} quantile of w's own magnitudes. */
    static void layerMask(Backend backend, Tensor w, double sparsity, Tensor mask) {
        backend.magnitudeMask(w, backend.magnitudeThreshold(w, Math.round(sparsity * w.numel())), mask);
    }

    /** Masks that prune {@code sparsity} of all the weights together, with one threshold. */
    public static List<Tensor> globalMasks(Arena arena, Backend backend, List<Tensor> weights, double sparsity) {
        checkSparsity(sparsity);
        float threshold = globalThreshold(backend, weights, sparsity);
        return weights.stream().map(w -> {
            Tensor mask = Tensor.zeros(arena, DType.I8, w.dim(0), w.dim(1));
            backend.magnitudeMask(w, threshold, mask);
            return mask;
        }).toList();
    }

    /** The |w| at or below which {@code sparsity} of all the weights lie. */
    public static float globalThreshold(Backend backend, List<Tensor> weights, double sparsity) {
        checkSparsity(sparsity);
        long total = 0;
        for (Tensor w : weights) total = Math.addExact(total, w.numel());
        try (Arena scratch = Arena.ofConfined()) {
            // every layer's weights side by side in one row, so that the backend selects over all of them
            Tensor all = Tensor.zeros(scratch, DType.F32, 1, Math.max(1, total));
            long offset = 0;
            for (Tensor w : weights) {
                all.view(0, offset, 1, w.numel()).copyFrom(Tensor.of(scratch, w.toFloatArray(), 1, w.numel()));
                offset += w.numel();
            }
            return backend.magnitudeThreshold(all, Math.round(sparsity * total));
        }
    }

    private static void checkSparsity(double sparsity) {
        if (!(sparsity >= 0 && sparsity < 1)) throw new IllegalArgumentException("sparsity must be in [0, 1), is " + sparsity);
    }
}
