package org.tune4j.optim;

import java.lang.foreign.Arena;
import java.util.Collection;
import org.tune4j.autograd.Parameter;
import org.tune4j.backend.Backend;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/** Global-norm gradient clipping, as torch.nn.utils.clip_grad_norm_: {@link Backend#clipGradNorm}, one rule on every device. */
public final class GradClip {
    private GradClip() {}

    /** Scales the trainable gradients so that their global L2 norm is at most {@code maxNorm}; returns the norm before (a GPU waits for it). */
    public static double clipGlobalNorm(Backend backend, Collection<Parameter> params, double maxNorm) {
        try (Arena scratch = Arena.ofConfined()) {
            Tensor norm = backend.memory().zeros(scratch, DType.F32, 1);
            clipGlobalNorm(backend, params, maxNorm, norm);
            return norm.isHost() ? norm.getFloat(0) : norm.toFloatArray()[0];
        }
    }

    /** As {@link #clipGlobalNorm(Backend, Collection, double)}, the norm written to {@code norm} (one F32 value in the backend's memory) and not read back. */
    public static void clipGlobalNorm(Backend backend, Collection<Parameter> params, double maxNorm, Tensor norm) {
        Tensor[] grads = params.stream().filter(Parameter::trainable).map(Parameter::grad).toArray(Tensor[]::new);
        backend.clipGradNorm(grads, (float) maxNorm, norm);
    }
}
