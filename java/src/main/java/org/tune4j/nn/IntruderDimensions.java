package org.tune4j.nn;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.SplittableRandom;
import org.tune4j.tensor.Tensor;

/**
 * Intruder dimensions of a fine-tuned weight (Shuttleworth et al., "LoRA vs Full Fine-tuning: An Illusion
 * of Equivalence", 2024): among the k largest singular triplets of the fine-tuned W' [out, in], those
 * whose left singular vector has |cosine| below eps with every left singular vector of the pretrained W.
 * The paper finds them in LoRA's weights and not in full fine-tuning's, ties LoRA's forgetting to them,
 * and scales them down after training: W' − (1 − λ) Σ_intruders σ_j u_j v_jᵀ ({@link #shrink}).
 */
public final class IntruderDimensions {
    /** The k and eps {@link #count(Module, Module, Collection)} uses: the 10 largest directions, |cosine| below 0.5. */
    public static final int TOP = 10;
    public static final double EPS = 0.5;

    private IntruderDimensions() {}

    /** One layer's weight [out, in] as pretrained and as adapted. */
    public record WeightPair(String path, Tensor pretrained, Tensor adapted) {}

    /**
     * Each {@link Linear} of {@code pretrained} whose name (the last part of its path) is in {@code modules},
     * beside the same layer of {@code adapted}: a Linear, or a {@link LoraLinear} with its adapter merged.
     */
    public static List<WeightPair> weightPairs(Module pretrained, Module adapted, Collection<String> modules) {
        List<WeightPair> pairs = new ArrayList<>();
        var adaptedModules = adapted.namedModules();
        pretrained.namedModules().forEach((path, m) -> {
            if (!(m instanceof Linear before) || !modules.contains(path.substring(path.lastIndexOf('.') + 1))) return;
            Tensor after = switch (adaptedModules.get(path)) {
                case Linear l -> l.weight().value();
                case LoraLinear l when l.merged() -> l.base().weight().value();
                case LoraLinear l -> throw new IllegalStateException(path + ": merge the LoRA adapter before comparing its weight with the pretrained one");
                case null -> throw new IllegalArgumentException("the adapted model has no layer " + path);
                default -> throw new IllegalArgumentException(path + " is a " + adaptedModules.get(path).getClass().getSimpleName()
                        + " in the adapted model, not a Linear or a LoraLinear");
            };
            pairs.add(new WeightPair(path, before.weight().value(), after));
        });
        return pairs;
    }

    /** Intruder dimensions ({@link #TOP}, or all of a smaller layer's; {@link #EPS}) summed over the {@link #weightPairs} of two models. */
    public static int count(Module pretrained, Module adapted, Collection<String> modules) {
        int n = 0;
        for (WeightPair p : weightPairs(pretrained, adapted, modules))
            n += count(p.pretrained(), p.adapted(), (int) Math.min(TOP, Math.min(p.pretrained().dim(0), p.pretrained().dim(1))), EPS);
        return n;
    }

    /** How many of the k largest singular directions of {@code tuned} are intruders against {@code pretrained}. */
    public static int count(Tensor pretrained, Tensor tuned, int k, double eps) {
        return find(pretrained, tuned, k, eps).size();
    }

    /**
     * Scales the singular values of {@code tuned}'s intruder dimensions by {@code lambda}, in place
     * (λ = 1 leaves it, 0 removes them); returns how many there were.
     */
    public static int shrink(Tensor pretrained, Tensor tuned, int k, double eps, double lambda) {
        if (!(lambda >= 0 && lambda <= 1)) throw new IllegalArgumentException("lambda must be in [0, 1], is " + lambda);
        List<Triplet> intruders = find(pretrained, tuned, k, eps);
        int out = (int) tuned.dim(0), in = (int) tuned.dim(1);
        for (Triplet t : intruders) {
            double c = (1 - lambda) * t.sigma();
            for (int i = 0; i < out; i++) for (int j = 0; j < in; j++)
                tuned.setFloat(i, j, (float) (tuned.getFloat(i, j) - c * t.u()[i] * t.v()[j]));
        }
        return intruders.size();
    }

    /** One singular triplet: σ, u [out], v [in]. */
    private record Triplet(double sigma, double[] u, double[] v) {}

    private static List<Triplet> find(Tensor pretrained, Tensor tuned, int k, double eps) {
        if (pretrained.rank() != 2 || !java.util.Arrays.equals(pretrained.shape(), tuned.shape()))
            throw new IllegalArgumentException("pretrained " + java.util.Arrays.toString(pretrained.shape()) + " and tuned "
                    + java.util.Arrays.toString(tuned.shape()) + " must be the same [out, in] matrix");
        int m = (int) pretrained.dim(0), n = (int) pretrained.dim(1), full = Math.min(m, n);
        if (k < 1 || k > full) throw new IllegalArgumentException("k must be in [1, " + full + "], is " + k);
        if (!(eps > 0 && eps <= 1)) throw new IllegalArgumentException("eps, a cosine similarity, must be in (0, 1], is " + eps);
        // every triplet: with min(m, n) vectors the iterated subspace is the whole row space after one product
        TopSingular before = TopSingular.of(pretrained, full, 3, new SplittableRandom(0));
        TopSingular after = TopSingular.of(tuned, full, 3, new SplittableRandom(0));
        List<Triplet> intruders = new ArrayList<>();
        for (int j = 0; j < k; j++) {
            double best = 0;
            for (double[] u : before.u) best = Math.max(best, Math.abs(TopSingular.dot(u, after.u[j])));
            if (best < eps) intruders.add(new Triplet(after.values[j], after.u[j], after.v[j]));
        }
        return intruders;
    }
}
