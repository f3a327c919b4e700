package org.tune4j.optim;

import java.lang.foreign.Arena;
import java.util.LinkedHashMap;
import java.util.Map;
import org.tune4j.autograd.Parameter;
import org.tune4j.backend.Backend;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/** SGD with momentum (optionally Nesterov) and weight decay, PyTorch's semantics, over the trainable parameters. */
public final class Sgd {
    private final Map<String, Parameter> params = new LinkedHashMap<>();
    private final Map<String, Tensor> buffers = new LinkedHashMap<>();
    private final float momentum, dampening, weightDecay;
    private final boolean nesterov;
    private long step;

    public Sgd(Arena arena, Map<String, Parameter> named, float momentum, float dampening, float weightDecay, boolean nesterov) {
        if (nesterov && (momentum <= 0 || dampening != 0)) throw new IllegalArgumentException("Nesterov momentum needs momentum > 0 and no dampening");
        this.momentum = momentum;
        this.dampening = dampening;
        this.weightDecay = weightDecay;
        this.nesterov = nesterov;
        named.forEach((name, p) -> {
            if (!p.trainable()) return;
            params.put(name, p);
            buffers.put(name, p.value().memory().zeros(arena, DType.F32, p.value().shape()));
        });
    }

    /** One update with learning rate {@code lr}; the gradients are zeroed after. */
    public void step(Backend backend, float lr) {
        boolean first = step++ == 0;
        params.forEach((name, p) -> {
            backend.sgdStep(p.value(), p.grad(), buffers.get(name), lr, momentum, dampening, weightDecay, nesterov, first);
            p.zeroGrad();
        });
    }

    public Map<String, Parameter> parameters() {
        return params;
    }
}
