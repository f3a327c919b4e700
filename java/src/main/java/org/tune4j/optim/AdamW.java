package org.tune4j.optim;

import java.lang.foreign.Arena;
import java.util.LinkedHashMap;
import java.util.Map;
import org.tune4j.autograd.Parameter;
import org.tune4j.backend.Backend;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * AdamW with PyTorch's semantics (decoupled weight decay p -= lr·wd·p, bias-corrected moments), over the
 * parameters that are trainable when it is made. Weight decay applies to matrices only (not to biases,
 * norms or embeddings' vectors), as is usual for transformers. LoRA+ (Hayou et al. 2024): parameters
 * named "*lora_B" take {@code loraPlusRatio} times the learning rate.
 */
public final class AdamW {
    private final Map<String, Parameter> params = new LinkedHashMap<>();
    private final Map<String, Tensor[]> state = new LinkedHashMap<>();
    private final float beta1, beta2, eps, weightDecay, loraPlusRatio;
    private long step;

    public AdamW(Arena arena, Map<String, Parameter> named, float beta1, float beta2, float eps, float weightDecay, float loraPlusRatio) {
        if (!(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1)) throw new IllegalArgumentException("betas must be in [0, 1), are " + beta1 + ", " + beta2);
        if (!(eps > 0 && eps < Float.POSITIVE_INFINITY)) throw new IllegalArgumentException("eps must be finite and > 0, is " + eps);
        if (!(weightDecay >= 0 && weightDecay < Float.POSITIVE_INFINITY)) throw new IllegalArgumentException("weight decay must be finite and >= 0, is " + weightDecay);
        if (!(loraPlusRatio > 0 && loraPlusRatio < Float.POSITIVE_INFINITY)) throw new IllegalArgumentException("the LoRA+ ratio must be finite and > 0, is " + loraPlusRatio);
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
        this.weightDecay = weightDecay;
        this.loraPlusRatio = loraPlusRatio;
        named.forEach((name, p) -> {
            if (!p.trainable()) return;
            params.put(name, p);
            state.put(name, new Tensor[] {p.value().memory().zeros(arena, DType.F32, p.value().shape()), p.value().memory().zeros(arena, DType.F32, p.value().shape())});
        });
    }

    /** PyTorch's defaults: betas (0.9, 0.999), eps 1e-8. */
    public static AdamW of(Arena arena, Map<String, Parameter> named, float weightDecay, float loraPlusRatio) {
        return new AdamW(arena, named, 0.9f, 0.999f, 1e-8f, weightDecay, loraPlusRatio);
    }

    /** One update of every parameter with learning rate {@code lr}; then their gradients are zeroed. */
    public void step(Backend backend, float lr) {
        if (!(lr >= 0 && lr < Float.POSITIVE_INFINITY)) throw new IllegalArgumentException("learning rate must be finite and >= 0, is " + lr);
        step++;
        for (Map.Entry<String, Parameter> e : params.entrySet()) {
            Parameter p = e.getValue();
            Tensor[] mv = state.get(e.getKey());
            backend.adamwStep(p.value(), p.grad(), mv[0], mv[1], lr * lrScaleOf(e.getKey(), loraPlusRatio), beta1, beta2, eps,
                    weightDecayOf(e.getKey(), p, weightDecay), step);
            p.zeroGrad();
        }
    }

    /**
     * Counts a step at rate {@code lr} and writes (lr, step) into {@code schedule} [2] (F32, in the backend's memory, a
     * copy to a device), for {@link #step(Backend, Tensor)}: outside a recorded step, which then reads them on the device.
     */
    public void schedule(float lr, Tensor schedule) {
        if (!(lr >= 0 && lr < Float.POSITIVE_INFINITY)) throw new IllegalArgumentException("learning rate must be finite and >= 0, is " + lr);
        if (step + 1 >= (1 << 24)) throw new IllegalStateException("a schedule counts steps in F32, exactly up to 2^24; this is step " + (step + 1));
        step++;
        try (Arena scratch = Arena.ofConfined()) {
            schedule.copyFrom(Tensor.of(scratch, new float[] {lr, step}, 2));
        }
    }

    /**
     * {@link #step(Backend, float)} with the rate and the step read from {@code schedule} (written by {@link #schedule})
     * when the backend runs the update: the same arithmetic, so that the update can be recorded once (Backend.record) and
     * replayed with each step's rate.
     */
    public void step(Backend backend, Tensor schedule) {
        for (Map.Entry<String, Parameter> e : params.entrySet()) {
            Parameter p = e.getValue();
            Tensor[] mv = state.get(e.getKey());
            backend.adamwStep(p.value(), p.grad(), mv[0], mv[1], schedule, lrScaleOf(e.getKey(), loraPlusRatio), beta1, beta2, eps,
                    weightDecayOf(e.getKey(), p, weightDecay));
            p.zeroGrad();
        }
    }

    /** The weight decay parameter {@code name} takes: {@code weightDecay} for matrices, but not the adapters, cls_token or pos_embed; 0 otherwise. */
    public static float weightDecayOf(String name, Parameter p, float weightDecay) {
        boolean decays = p.value().rank() == 2 && !name.contains("lora_") && !name.endsWith("_embed") && !name.endsWith("_token");
        return decays ? weightDecay : 0f;
    }

    /** The factor on the learning rate of parameter {@code name}: LoRA+'s ratio for lora_B, else 1. */
    public static float lrScaleOf(String name, float loraPlusRatio) {
        return name.endsWith("lora_B") ? loraPlusRatio : 1f;
    }

    /** The parameters it updates, by name. */
    public Map<String, Parameter> parameters() {
        return params;
    }

    /** First and second moments by parameter name, for checkpoints. */
    public Map<String, Tensor[]> state() {
        return state;
    }

    public long steps() {
        return step;
    }

    public void setSteps(long steps) {
        this.step = steps;
    }
}
