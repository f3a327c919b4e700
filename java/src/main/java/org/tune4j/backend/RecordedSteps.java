package org.tune4j.backend;

/**
 * A step run again and again on the same tensors, recorded once it can be: its first two runs go op by op (a
 * {@code Workspace}'s first step sizes it, the second runs on the slab every later step reuses, and both warm a device's
 * allocator), the third is {@link Backend#record recorded}, and every later run replays the recording (a CUDA graph on a
 * GPU; the work again on the host). With {@code record} false it always runs op by op.
 */
public final class RecordedSteps implements AutoCloseable {
    private final Backend backend;
    private final Runnable work;
    private final boolean record;
    private Recording recording;
    private int eagerRuns;

    public RecordedSteps(Backend backend, Runnable work, boolean record) {
        this.backend = backend;
        this.work = work;
        this.record = record;
    }

    /** One step (queued, on a device). */
    public void run() {
        if (recording != null) recording.run();
        else if (!record || eagerRuns < 2) {
            work.run();
            eagerRuns++;
        } else recording = backend.record(work);
    }

    /** How the steps run: "recorded as a CUDA graph", or op by op and why. */
    public String how() {
        if (recording == null) return record ? "op by op (fewer than three steps)" : "op by op (recording off)";
        if (recording.recorded()) return "recorded as a CUDA graph";
        return recording.notRecorded() == null ? "op by op (no graphs on " + backend.name() + ")" : "op by op: " + recording.notRecorded();
    }

    @Override
    public void close() {
        if (recording != null) recording.close();
    }
}
