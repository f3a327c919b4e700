package org.tune4j.train;

import java.lang.foreign.Arena;
import org.tune4j.autograd.MicroBatches;
import org.tune4j.autograd.Tape;
import org.tune4j.autograd.Var;
import org.tune4j.autograd.Workspace;
import org.tune4j.backend.Backend;
import org.tune4j.backend.RecordedSteps;
import org.tune4j.nn.Classifier;
import org.tune4j.optim.AdamW;
import org.tune4j.optim.GradClip;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * {@link Trainer}'s step, on any backend (ARCHITECTURE.md, "One engine"): each batch is copied into tensors made once in
 * the backend's memory; the tape's forward, backward, clipping and AdamW run on them with the loss kept there
 * ({@link Tape#lossOnBackend}) and AdamW's rate and step read from there ({@link AdamW#schedule}), so nothing is read
 * back inside the step; on a device, from the third full batch that work is a {@link RecordedSteps recording} (a CUDA
 * graph, one launch a step: the first two sized the workspace and warmed the allocator; a host backend runs it again),
 * and the loss is read once the step is done. A short last batch runs op by op on a workspace of its own, so the
 * recorded one keeps its addresses. On the host these are the host's op-by-op arithmetic, bit for bit (StepOpsTest).
 * With micro-batches ({@link Trainer.Options#microBatches}) each batch runs as parts ({@link MicroBatches}), op by op:
 * a part's loss is read back as it ends, which a recording cannot do.
 */
public final class TrainingSteps implements AutoCloseable {
    private final Backend backend;
    private final Classifier model;
    private final AdamW optimizer;
    private final Trainer.Options options;
    private final Arena arena = Arena.ofShared(); // parts that run at once read the batch from threads of their own
    private final Tensor x, y, loss, norm, schedule; // in the backend's memory
    private final Workspace full = new Workspace(), partial = new Workspace();
    private final RecordedSteps fullSteps; // the full batches' step, recorded from the third on
    private final MicroBatches parts;      // null: each batch on one tape
    private long peakStepBytes;

    /** Steps of {@code model} on {@code backend} at o's batch size, label smoothing and clipping; {@code record}: from the third full batch as a CUDA graph. */
    public TrainingSteps(Backend backend, Classifier model, AdamW optimizer, Trainer.Options options, long pixels, boolean record) {
        this.backend = backend;
        this.model = model;
        this.optimizer = optimizer;
        this.options = options;
        x = backend.memory().zeros(arena, DType.F32, options.batchSize(), pixels);
        y = backend.memory().zeros(arena, DType.I32, options.batchSize());
        loss = backend.memory().zeros(arena, DType.F32, 1);
        norm = backend.memory().zeros(arena, DType.F32, 1);
        schedule = backend.memory().zeros(arena, DType.F32, 2);
        parts = options.microBatches() > 1 ? new MicroBatches(backend, options.microBatches(), options.seed()) : null;
        fullSteps = new RecordedSteps(backend, step(full, x, y), record && parts == null);
    }

    /** One batch (images xb [rows, pixels], labels yb [rows], on the host) at learning rate lr; returns its loss. */
    public float train(Tensor xb, Tensor yb, int rows, float lr) {
        optimizer.schedule(lr, schedule); // this step's rate and count, read by the (recorded) update
        if (rows == options.batchSize()) {
            x.copyFrom(xb);
            y.copyFrom(yb);
            fullSteps.run();
        } else {
            try (Arena scratch = Arena.ofShared()) {
                step(partial, xb.copy(scratch, backend.memory()), yb.copy(scratch, backend.memory())).run();
            }
        }
        return loss.toFloatArray()[0];
    }

    private Runnable step(Workspace workspace, Tensor xs, Tensor ys) {
        return () -> {
            if (parts != null) {
                partsForwardBackward(xs, ys);
            } else try (Tape t = new Tape(backend, true, true, workspace).lossOnBackend()) {
                Var out = t.crossEntropy(model.logits(t, xs, false), ys, options.labelSmoothing());
                loss.copyFrom(out.value());
                t.backward(out);
                peakStepBytes = Math.max(peakStepBytes, t.allocatedBytes());
            }
            if (options.maxGradNorm() > 0) GradClip.clipGlobalNorm(backend, optimizer.parameters().values(), options.maxGradNorm(), norm);
            optimizer.step(backend, schedule);
        };
    }

    /** The forward and backward of images xs [rows, pixels] with labels ys [rows] as micro-batches of their rows; their mean loss into {@code loss}. */
    private void partsForwardBackward(Tensor xs, Tensor ys) {
        long rows = xs.dim(0), pixels = xs.dim(1);
        Tensor labels = ys.reshape(rows, 1);
        double sum = parts.step((int) rows, (t, from, to) -> t.crossEntropy(model.logits(t, xs.view(from, 0, to - from, pixels), false),
                labels.view(from, 0, to - from, 1).reshape(to - from), options.labelSmoothing()));
        try (Arena scratch = Arena.ofConfined()) {
            loss.copyFrom(Tensor.of(scratch, new float[] {(float) (sum / rows)}, 1));
        }
        peakStepBytes = Math.max(peakStepBytes, parts.stepBytes());
    }

    long peakStepBytes() {
        return peakStepBytes;
    }

    /** How the full batches ran: "recorded as a CUDA graph", or op by op and why. */
    public String how() {
        return fullSteps.how();
    }

    @Override
    public void close() {
        try (arena; full; partial) {
            fullSteps.close();
        } finally {
            if (parts != null) parts.close();
        }
    }
}
