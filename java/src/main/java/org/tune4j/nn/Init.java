package org.tune4j.nn;

import java.util.SplittableRandom;
import org.tune4j.tensor.Tensor;

/** Parameter initialisation, seeded. */
final class Init {
    private Init() {}

    /** U(-bound, bound). PyTorch's nn.Linear and PEFT's lora_A use bound = 1/√fan_in. */
    static void uniform(Tensor t, double bound, SplittableRandom rng) {
        for (long i = 0; i < t.numel(); i++) t.setFloat(i, (float) ((rng.nextDouble() * 2 - 1) * bound));
    }

    /** N(0, std²), by Box-Muller. */
    static void normal(Tensor t, double std, SplittableRandom rng) {
        for (long i = 0; i < t.numel(); i++) {
            double u = 1 - rng.nextDouble(), v = rng.nextDouble();
            t.setFloat(i, (float) (std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v)));
        }
    }

    static void fill(Tensor t, float value) {
        for (long i = 0; i < t.numel(); i++) t.setFloat(i, value);
    }
}
