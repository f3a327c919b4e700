package org.tune4j.backend.cuda;

import static org.tune4j.backend.cuda.CudaBackend.check;

import java.lang.foreign.Arena;
import org.tune4j.backend.BackendChecks;
import org.tune4j.backend.StepChecks;
import org.tune4j.bindings.tune4j_cuda_h;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * The CUDA kernels of a training step's ends: the cross-entropy loss (returned, or kept on the device for a step
 * recorded as a graph) and its backward, global-norm clipping on the device, the column gather of a ViT's patches, its
 * token assembly, a PGD step, and AdamW on a schedule in device memory. Each says whether the GPU took the call; where it did not, {@link CudaBackend} falls back to the CPU.
 */
final class CudaStepOps {
    private CudaStepOps() {}

    /** Labels the kernels take: on the host (checked there, then staged) or in the GPU's memory (not read on the host: the kernel gives a NaN loss for one out of range). */
    private static boolean labelsFit(CudaBackend gpu, Tensor logits, Tensor labels, float smoothing) {
        if (logits.rank() != 2 || logits.dtype() != DType.F32 || labels == null || labels.dtype() != DType.I32 || !labels.isContiguous()
                || labels.numel() != logits.dim(0) || !(smoothing >= 0 && smoothing < 1)) return false;
        if (labels.memory() == gpu.memory()) return labels.isAlive();
        if (!labels.isHost()) return false;
        BackendChecks.valuesIn("labels", labels, 0, logits.dim(1));
        return true;
    }

    private static boolean fits(CudaBackend gpu, Tensor logits, Tensor labels, float smoothing, Tensor probs) {
        return gpu.here(logits, probs) && labelsFit(gpu, logits, labels, smoothing) && CudaBackend.sameSize(logits, probs) && logits.dim(0) > 0;
    }

    /** Each row's loss into losses [m] and the probabilities into probs, on the stream. */
    private static void rowLosses(CudaBackend gpu, Arena scratch, Tensor logits, Tensor labels, float smoothing, Tensor probs, Tensor losses) {
        Tensor y = gpu.staged(scratch, labels);
        check(tune4j_cuda_h.t4j_cuda_cross_entropy_forward(logits.dim(0), logits.dim(1), logits.pointer(), y.pointer(), smoothing, probs.pointer(),
                losses.pointer(), gpu.stream()), "cross_entropy_forward");
    }

    /** The mean loss read back (the GPU waited for), or null where the kernels do not take the call. */
    static Float crossEntropyForward(CudaBackend gpu, Tensor logits, Tensor labels, float smoothing, Tensor probs) {
        if (!fits(gpu, logits, labels, smoothing, probs)) return null;
        try (Arena scratch = Arena.ofConfined()) {
            Tensor losses = gpu.memory().empty(scratch, DType.F32, logits.dim(0)), total = gpu.memory().empty(scratch, DType.F32, 1);
            rowLosses(gpu, scratch, logits, labels, smoothing, probs, losses);
            check(tune4j_cuda_h.t4j_cuda_sum(losses.numel(), losses.pointer(), total.pointer(), gpu.stream()), "sum");
            return total.toFloatArray()[0] / logits.dim(0);
        }
    }

    /** The mean loss into loss [1] on the device, nothing read back. */
    static boolean crossEntropyLoss(CudaBackend gpu, Tensor logits, Tensor labels, float smoothing, Tensor probs, Tensor loss) {
        if (!fits(gpu, logits, labels, smoothing, probs) || !gpu.here(loss) || loss.dtype() != DType.F32 || loss.numel() != 1) return false;
        try (Arena scratch = Arena.ofConfined()) {
            Tensor losses = gpu.memory().empty(scratch, DType.F32, logits.dim(0));
            rowLosses(gpu, scratch, logits, labels, smoothing, probs, losses);
            check(tune4j_cuda_h.t4j_cuda_sum(losses.numel(), losses.pointer(), loss.pointer(), gpu.stream()), "sum");
            gpu.scale(1f / logits.dim(0), loss); // the mean (crossEntropyForward divides on the host: the same bits for a batch of 2^k)
        }
        return true;
    }

    static boolean crossEntropyBackward(CudaBackend gpu, Tensor probs, Tensor labels, float smoothing, float dloss, Tensor dlogits) {
        if (!fits(gpu, probs, labels, smoothing, dlogits)) return false;
        try (Arena scratch = Arena.ofConfined()) {
            Tensor y = gpu.staged(scratch, labels);
            check(tune4j_cuda_h.t4j_cuda_cross_entropy_backward(probs.dim(0), probs.dim(1), probs.pointer(), y.pointer(), smoothing, dloss / probs.dim(0),
                    dlogits.pointer(), gpu.stream()), "cross_entropy_backward");
        }
        return true;
    }

    /** Each gradient's sum of squares, then the factor and the norm (vit.cu), then every gradient times the factor: nothing read back. */
    static void clipGradNorm(CudaBackend gpu, Tensor[] grads, float maxNorm, Tensor norm) {
        StepChecks.clipGradNorm(grads, maxNorm, norm, gpu.memory());
        try (Arena scratch = Arena.ofConfined()) {
            Tensor sums = gpu.memory().empty(scratch, DType.F32, Math.max(1, grads.length)), out = gpu.memory().empty(scratch, DType.F32, 2);
            for (int i = 0; i < grads.length; i++)
                check(tune4j_cuda_h.t4j_cuda_sum_squares(grads[i].numel(), grads[i].pointer(), sums.pointer().asSlice(4L * i), gpu.stream()), "sum_squares");
            check(tune4j_cuda_h.t4j_cuda_clip_scale(grads.length, sums.pointer(), maxNorm, out.pointer(), gpu.stream()), "clip_scale");
            for (Tensor g : grads) check(tune4j_cuda_h.t4j_cuda_scale_by(g.numel(), out.pointer(), g.pointer(), gpu.stream()), "scale_by");
            norm.copyFrom(out.reshape(2, 1).view(1, 0, 1, 1).reshape(norm.shape())); // out[1], as norm is shaped ([1] or [1, 1])
        }
    }

    static boolean gatherColumns(CudaBackend gpu, Tensor x, Tensor index, Tensor y) {
        if (index != null && index.isHost() && index.isAlive() && index.dtype() == DType.I32 && index.isContiguous() && x != null && x.memory() == gpu.memory()) {
            try (Arena scratch = Arena.ofConfined()) { // a small host input the kernel only reads: staged, its values checked here (as labels and ids are)
                Tensor staged = gpu.staged(scratch, index);
                StepChecks.gatherColumns(x, staged, y);
                BackendChecks.valuesIn("index", index, 0, x.dim(1));
                return launchGatherColumns(gpu, x, staged, y);
            }
        }
        StepChecks.gatherColumns(x, index, y);
        return launchGatherColumns(gpu, x, index, y);
    }

    /** The kernel on checked arguments, where they fit it (index contiguous here, x and y here with any row stride). */
    private static boolean launchGatherColumns(CudaBackend gpu, Tensor x, Tensor index, Tensor y) {
        if (!gpu.here(index) || !gpu.hereStrided(x, y)) return false;
        check(tune4j_cuda_h.t4j_cuda_gather_columns(x.dim(0), x.dim(1), x.pointer(), x.ld(), index.pointer(), y.pointer(), y.ld(), gpu.stream()), "gather_columns");
        return true;
    }

    /** AdamW reading its rate and step from the schedule on the device; the CPU's on host copies where the kernel does not take the tensors. */
    static void adamwStep(CudaBackend gpu, Tensor param, Tensor grad, Tensor m, Tensor v, Tensor schedule, float lrScale, float beta1, float beta2, float eps,
            float weightDecay) {
        StepChecks.schedule(schedule, gpu.memory());
        if (gpu.here(param, grad, m, v, schedule) && CudaBackend.sameSize(param, grad) && CudaBackend.sameSize(param, m) && CudaBackend.sameSize(param, v)) {
            BackendChecks.adamw(lrScale, beta1, beta2, eps, weightDecay); // the rate itself is on the device: the kernel reads it
            check(tune4j_cuda_h.t4j_cuda_adamw_step_scheduled(param.numel(), param.pointer(), grad.pointer(), m.pointer(), v.pointer(), schedule.pointer(), lrScale,
                    beta1, beta2, eps, weightDecay, gpu.stream()), "adamw_step_scheduled");
            return;
        }
        try (Arena scratch = Arena.ofConfined()) {
            Tensor host = schedule.copy(scratch, org.tune4j.tensor.Memory.HOST);
            gpu.adamwStep(param, grad, m, v, host.getFloat(0) * lrScale, beta1, beta2, eps, weightDecay, StepChecks.scheduleStep(host));
        }
    }

    static boolean vitTokens(CudaBackend gpu, Tensor patches, Tensor cls, Tensor pos, int batch, Tensor y) {
        long p = StepChecks.vitTokens(patches, cls, pos, batch, y);
        if (!gpu.here(patches, cls, pos, y)) return false;
        check(tune4j_cuda_h.t4j_cuda_vit_tokens(batch, p, patches.dim(1), patches.pointer(), cls.pointer(), pos.pointer(), y.pointer(), gpu.stream()), "vit_tokens");
        return true;
    }

    static boolean pgdStep(CudaBackend gpu, Tensor adv, Tensor grad, Tensor orig, float stepSize, float epsilon) {
        StepChecks.pgdStep(adv, grad, orig, stepSize, epsilon);
        if (!gpu.here(adv, grad, orig)) return false;
        check(tune4j_cuda_h.t4j_cuda_pgd_step(adv.numel(), adv.pointer(), grad.pointer(), orig.pointer(), stepSize, epsilon, gpu.stream()), "pgd_step");
        return true;
    }
}
