package org.tune4j.backend;

/**
 * Work a backend {@link Backend#record recorded} once, run again by {@link #run()}: a CUDA graph's replay (one launch
 * for the whole step, no Java code), or the work itself, op by op, where there is no graph (a host backend, or a
 * recording that failed: {@link #notRecorded()} says why). Closing it frees the graph; the tensors the work used must
 * outlive it.
 */
public final class Recording implements AutoCloseable {
    private final Runnable again;
    private final AutoCloseable graph;
    private final String notRecorded;

    private Recording(Runnable again, AutoCloseable graph, String notRecorded) {
        this.again = again;
        this.graph = graph;
        this.notRecorded = notRecorded;
    }

    /** A recorded graph: {@code replay} launches it, {@code graph} frees it. */
    public static Recording graph(Runnable replay, AutoCloseable graph) {
        return new Recording(replay, graph, null);
    }

    /** No graph: {@code work} runs again on each {@link #run()}; {@code whyNot} is null on a host backend, else the reason the recording failed. */
    public static Recording eager(Runnable work, String whyNot) {
        return new Recording(work, null, whyNot);
    }

    /** Runs the work again (queues it, on a device). */
    public void run() {
        again.run();
    }

    /** Whether {@link #run()} replays a graph. */
    public boolean recorded() {
        return graph != null;
    }

    /** Why a device backend could not record the work (it then runs op by op), or null. */
    public String notRecorded() {
        return notRecorded;
    }

    @Override
    public void close() {
        if (graph == null) return;
        try {
            graph.close();
        } catch (Exception e) {
            throw new IllegalStateException("freeing a recorded graph: " + e.getMessage(), e);
        }
    }
}
