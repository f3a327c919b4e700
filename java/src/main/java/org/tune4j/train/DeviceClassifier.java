package org.tune4j.train;

import org.tune4j.autograd.Tape;
import org.tune4j.autograd.Var;
import org.tune4j.backend.Backend;
import org.tune4j.backend.cuda.Cublas;
import org.tune4j.backend.cuda.CudaBackend;
import org.tune4j.nn.Classifier;
import org.tune4j.nn.Module;
import org.tune4j.nn.VisionTransformer;
import org.tune4j.tensor.Tensor;

/**
 * A ViT as a {@link Classifier} whose logits and input gradients come from a {@link VitStep} made for
 * inference: on a GPU ({@link #onGpu}), which is how evaluation, predictions, the gate and PGD attacks run
 * with {@code --device cuda}, since they all take a Classifier; on the host ({@link #onHost}), the same
 * code, which the tests check against the tape. On the tape the whole network is one op
 * ({@link Tape#external}): its backward gives the images' gradient and no parameter gradients, so a tape
 * that trains parameters is refused (train on the GPU with {@link VitStep#onGpu}).
 *
 * <p>The step holds a copy of the ViT's weights as they were when this was made; each batch size gets its
 * buffers on first use, kept until {@link #close}.
 */
public final class DeviceClassifier implements Classifier, AutoCloseable {
    private final VisionTransformer vit;
    private final VitStep<?> steps; // one batch size's step; withBatch gives the others
    private final boolean ownsSteps;

    private DeviceClassifier(VisionTransformer vit, VitStep<?> steps, boolean ownsSteps) {
        this.vit = vit;
        this.steps = steps;
        this.ownsSteps = ownsSteps;
    }

    /** The ViT on a GPU, GEMMs at {@code precision} (F32 for the CPU's numbers). */
    public static DeviceClassifier onGpu(CudaBackend gpu, VisionTransformer vit, Cublas.Precision precision) {
        return new DeviceClassifier(vit, VitStep.forInferenceOnGpu(gpu, vit, 1, precision), true);
    }

    /** The same on host tensors through {@code backend}. */
    public static DeviceClassifier onHost(Backend backend, VisionTransformer vit) {
        return new DeviceClassifier(vit, VitStep.forInferenceOnHost(backend, vit, 1), true);
    }

    /**
     * A training step's own forward and input gradient, with its weights as they are at each call (what the
     * step's adversarial training attacks and its validation measures); the step stays the caller's: closing
     * this frees nothing.
     */
    static DeviceClassifier over(VisionTransformer vit, VitStep<?> step) {
        return new DeviceClassifier(vit, step, false);
    }

    /** Logits [B, C] for images [B, H·W] on the tape; their gradient, when the tape asks, from the device's backward. */
    @Override
    public Var logits(Tape t, Var images) {
        if (t.parameterGradients() && vit.parameterCount(true) > 0) {
            throw new IllegalStateException("the device classifier computes input gradients only, and this tape wants gradients of the ViT's "
                    + vit.parameterCount(true) + " trainable parameters: train on the GPU with VitStep (Trainer.fitStep), or on the CPU with the ViT itself");
        }
        Tensor x = images.value();
        if (x.rank() != 2 || x.dim(0) < 1) throw new IllegalArgumentException("images must be [batch >= 1, pixels], are " + x);
        VitStep<?> step = steps.withBatch(Math.toIntExact(x.dim(0)));
        Tensor y = t.zeros(x.dim(0), vit.config().classes());
        step.logits(x, y);
        long forward = step.forwards();
        return t.external(images, y, (dy, dx) -> step.inputGradient(forward, dy, dx));
    }

    /** The host ViT's module tree (its weights as they are now, which may differ from the device's copy). */
    @Override
    public Module module() {
        return vit;
    }

    /** Frees the device's copy and every batch size's buffers (not a training step's: {@link #over}). */
    @Override
    public void close() {
        if (ownsSteps) steps.close();
    }
}
