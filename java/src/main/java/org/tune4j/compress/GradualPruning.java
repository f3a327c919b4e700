package org.tune4j.compress;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import org.tune4j.backend.Backend;
import org.tune4j.nn.Module;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * Gradual magnitude pruning during training (Zhu & Gupta 2017, "To prune, or not to prune"): every
 * {@code frequency} steps from {@code startStep} to {@code endStep} each target layer is pruned by
 * magnitude to the sparsity of the cubic schedule, and after every optimizer step the masks are applied
 * again, so that an update cannot bring a pruned weight back. Call {@link #afterStep} after each
 * optimizer step (or pass {@link #listener} to the trainer).
 */
public final class GradualPruning implements AutoCloseable {
    /** The schedule: sparsity goes from {@code initial} at startStep to {@code target} at endStep. */
    public record Schedule(double initial, double target, long startStep, long endStep, long frequency) {
        public Schedule {
            if (!(initial >= 0 && initial <= target && target < 1)) throw new IllegalArgumentException("need 0 <= initial <= target < 1, got " + initial + ", " + target);
            if (startStep < 0 || endStep < startStep) throw new IllegalArgumentException("need 0 <= startStep <= endStep, got " + startStep + ", " + endStep);
            if (frequency < 1) throw new IllegalArgumentException("frequency must be >= 1, is " + frequency);
        }

        /** Equation 1: s_t = s_f + (s_i − s_f)·(1 − (t − t0)/(n·Δt))³, held at s_i before t0 and at s_f after. */
        public double sparsityAt(long step) {
            if (step <= startStep) return initial;
            if (step >= endStep) return target;
            double progress = (double) (step - startStep) / (endStep - startStep);
            double rest = 1 - progress;
            return target + (initial - target) * rest * rest * rest;
        }
    }

    private final Backend backend;
    private final Schedule schedule;
    private final Arena arena = Arena.ofShared();
    private final List<Tensor> weights = new ArrayList<>();
    private final List<Tensor> masks = new ArrayList<>();
    private long step;
    private double sparsity;

    /** Prunes the weights of the target layers of {@code root} (their base weights under a LoRA adapter). */
    public GradualPruning(Backend backend, Module root, List<String> targets, Schedule schedule) {
        this.backend = backend;
        this.schedule = schedule;
        Targets.linears(root, targets).values().forEach(m -> {
            Tensor w = Targets.base(m).weight().value();
            weights.add(w);
            Tensor mask = Tensor.zeros(arena, DType.I8, w.dim(0), w.dim(1));
            masks.add(mask);
        });
        updateMasks(schedule.sparsityAt(0));
    }

    /** After optimizer step number {@code step + 1}: new masks when the schedule says so, then the masks applied. */
    public void afterStep() {
        step++;
        boolean update = step >= schedule.startStep() && step <= schedule.endStep() && (step - schedule.startStep()) % schedule.frequency() == 0;
        if (update) updateMasks(schedule.sparsityAt(step));
        else for (int i = 0; i < weights.size(); i++) backend.applyMask(weights.get(i), masks.get(i));
    }

    private void updateMasks(double s) {
        for (int i = 0; i < weights.size(); i++) {
            MagnitudePruning.layerMask(backend, weights.get(i), s, masks.get(i));
            backend.applyMask(weights.get(i), masks.get(i));
        }
        sparsity = s;
    }

    /** The sparsity the masks were last set to. */
    public double sparsity() {
        return sparsity;
    }

    public long steps() {
        return step;
    }

    /** A trainer listener that calls {@link #afterStep} after every step. */
    public org.tune4j.train.Trainer.Listener listener() {
        return new org.tune4j.train.Trainer.Listener() {
            @Override
            public void onStep(int epoch, int s, int steps, float loss, double examplesPerSecond) {
                afterStep();
            }
        };
    }

    @Override
    public void close() {
        arena.close();
    }
}
