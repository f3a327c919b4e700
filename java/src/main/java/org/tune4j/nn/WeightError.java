package org.tune4j.nn;

import org.tune4j.tensor.Tensor;

/** The measures a conversion reports. */
final class WeightError {
    private WeightError() {}

    /** ‖approx − exact‖_F / ‖exact‖_F (0 when exact is all zero and approx equals it). */
    static double relative(Tensor exact, Tensor approx) {
        double err = 0, norm = 0;
        for (long i = 0; i < exact.numel(); i++) {
            double e = exact.getFloat(i), a = approx.getFloat(i);
            err += (a - e) * (a - e);
            norm += e * e;
        }
        return norm == 0 ? Math.sqrt(err) : Math.sqrt(err / norm);
    }

    /** Fraction of zero elements. */
    static double sparsity(Tensor t) {
        long zeros = 0;
        for (long i = 0; i < t.numel(); i++) if (t.getFloat(i) == 0f) zeros++;
        return t.numel() == 0 ? 0 : (double) zeros / t.numel();
    }
}
