package org.tune4j.testing;

import java.util.function.DoubleSupplier;
import org.tune4j.tensor.Tensor;

/** Central finite differences, the oracle of the gradient tests. */
public final class FiniteDifferences {
    private FiniteDifferences() {}

    /** dL/dθ_i ≈ (L(θ_i + eps) − L(θ_i − eps)) / 2eps for every element of θ, perturbing θ in place (restored after). */
    public static double[] gradient(Tensor theta, DoubleSupplier loss, double eps) {
        double[] grad = new double[(int) theta.numel()];
        for (int i = 0; i < grad.length; i++) {
            float keep = theta.getFloat(i);
            theta.setFloat(i, (float) (keep + eps));
            double up = loss.getAsDouble();
            theta.setFloat(i, (float) (keep - eps));
            double down = loss.getAsDouble();
            theta.setFloat(i, keep);
            grad[i] = (up - down) / (2 * eps);
        }
        return grad;
    }
}
