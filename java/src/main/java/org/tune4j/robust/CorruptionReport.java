package org.tune4j.robust;

import java.util.LinkedHashMap;
import java.util.Map;
import org.tune4j.backend.Backend;
import org.tune4j.data.ImageDataset;
import org.tune4j.eval.Evaluate;
import org.tune4j.nn.Classifier;

/**
 * A model's error under every corruption and severity, and its corruption error relative to a base
 * model: CE_c = Σ_s err_model(c, s) / Σ_s err_base(c, s), mCE the mean over corruptions (Hendrycks and
 * Dietterich 2019); below 1 is more robust than the base.
 */
public final class CorruptionReport {
    /** error[kind][severity-1]. */
    public record Errors(Map<Corruptions.Kind, double[]> error) {
        public double mean() {
            return error.values().stream().flatMapToDouble(java.util.Arrays::stream).average().orElse(Double.NaN);
        }
    }

    private CorruptionReport() {}

    /** Errors of {@code model} on every corruption of {@code data} (seeded). */
    public static Errors errors(Backend backend, Classifier model, ImageDataset data, long seed) {
        Map<Corruptions.Kind, double[]> out = new LinkedHashMap<>();
        for (Corruptions.Kind k : Corruptions.ALL) {
            double[] e = new double[5];
            for (int s = 1; s <= 5; s++) e[s - 1] = 1 - Evaluate.accuracy(backend, model, Corruptions.apply(data, k, s, seed), 256);
            out.put(k, e);
        }
        return new Errors(out);
    }

    /** CE per corruption and mCE of {@code model} relative to {@code base} (same data, same seed). */
    public static Map<String, Double> relative(Errors model, Errors base) {
        Map<String, Double> ce = new LinkedHashMap<>();
        double sum = 0;
        for (Corruptions.Kind k : Corruptions.ALL) {
            double m = java.util.Arrays.stream(model.error().get(k)).sum(), b = java.util.Arrays.stream(base.error().get(k)).sum();
            double v = b == 0 ? (m == 0 ? 1 : Double.POSITIVE_INFINITY) : m / b;
            ce.put(k.label(), v);
            sum += v;
        }
        ce.put("mCE", sum / Corruptions.ALL.size());
        return ce;
    }
}
