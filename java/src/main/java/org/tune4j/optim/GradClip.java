package org.tune4j.optim;

import java.util.Collection;
import org.tune4j.autograd.Parameter;
import org.tune4j.backend.Backend;

/** Global-norm gradient clipping, as torch.nn.utils.clip_grad_norm_. */
public final class GradClip {
    private GradClip() {}

    /** Scales the trainable gradients so that their global L2 norm is at most {@code maxNorm}; returns the norm before. */
    public static double clipGlobalNorm(Backend backend, Collection<Parameter> params, double maxNorm) {
        double sq = 0;
        for (Parameter p : params) if (p.trainable()) sq += backend.sumSquares(p.grad());
        double norm = Math.sqrt(sq);
        if (norm > maxNorm && norm > 0) {
            float scale = (float) (maxNorm / (norm + 1e-6));
            for (Parameter p : params) if (p.trainable()) backend.scale(scale, p.grad());
        }
        return norm;
    }
}
