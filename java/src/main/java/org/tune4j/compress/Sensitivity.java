package org.tune4j.compress;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.tune4j.backend.Backend;
import org.tune4j.data.ImageDataset;
import org.tune4j.eval.Evaluate;
import org.tune4j.nn.Classifier;
import org.tune4j.nn.Module;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * Per-layer pruning sensitivity (as in Han et al. 2015): each target layer alone is pruned by magnitude
 * to each sparsity and the model's accuracy measured, then restored; a last sweep prunes every target
 * layer together ("all"). Layers whose accuracy falls fast deserve less sparsity.
 */
public final class Sensitivity {
    /** Accuracy with {@code layer} ("all" for every target) pruned to {@code sparsity}. */
    public record Point(String layer, double sparsity, double accuracy) {}

    private Sensitivity() {}

    public static List<Point> scan(Backend backend, Classifier model, List<String> targets, double[] sparsities, ImageDataset data) {
        Map<String, Module> layers = Targets.linears(model.module(), targets);
        List<Point> out = new ArrayList<>();
        double dense = Evaluate.accuracy(backend, model, data, 256);
        try (Arena arena = Arena.ofConfined()) {
            Map<String, Tensor> saved = new java.util.LinkedHashMap<>();
            layers.forEach((path, m) -> {
                saved.put(path, Targets.base(m).weight().value().copy(arena));
            });
            List<String> sweeps = new ArrayList<>(layers.keySet());
            sweeps.add("all");
            for (String layer : sweeps) {
                out.add(new Point(layer, 0, dense));
                for (double s : sparsities) {
                    if (!(s > 0 && s < 1)) throw new IllegalArgumentException("sparsities must be in (0, 1), got " + s);
                    layers.forEach((path, m) -> {
                        if (layer.equals("all") || layer.equals(path)) prune(backend, arena, Targets.base(m).weight().value(), s);
                    });
                    out.add(new Point(layer, s, Evaluate.accuracy(backend, model, data, 256)));
                    layers.forEach((path, m) -> Targets.base(m).weight().value().copyFrom(saved.get(path)));
                }
            }
        }
        return out;
    }

    private static void prune(Backend backend, Arena arena, Tensor w, double sparsity) {
        Tensor mask = Tensor.zeros(arena, DType.I8, w.dim(0), w.dim(1));
        MagnitudePruning.layerMask(backend, w, sparsity, mask);
        backend.applyMask(w, mask);
    }
}
