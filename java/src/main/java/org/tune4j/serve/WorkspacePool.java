package org.tune4j.serve;

import java.util.concurrent.ArrayBlockingQueue;
import org.tune4j.autograd.Workspace;

/**
 * A fixed number of {@link Workspace}s shared by a predictor's callers: a call takes one (waiting while all are in use)
 * and gives it back, so that at most that many batches run at a time, each on memory that later calls reuse.
 */
final class WorkspacePool implements AutoCloseable {
    /** The most workspaces a pool holds. */
    static final int MAX = 1024;

    private final ArrayBlockingQueue<Workspace> free;

    WorkspacePool(int workspaces) {
        if (workspaces < 1 || workspaces > MAX) throw new IllegalArgumentException("workspaces must be in [1, " + MAX + "], is " + workspaces);
        free = new ArrayBlockingQueue<>(workspaces);
        for (int i = 0; i < workspaces; i++) free.add(new Workspace());
    }

    /** A free workspace, waiting for one; give it back with {@link #give}. */
    Workspace take() {
        try {
            return free.take();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for a free workspace", e);
        }
    }

    void give(Workspace ws) {
        free.add(ws);
    }

    /** Frees the workspaces' memory; every one must have been given back. */
    @Override
    public void close() {
        for (Workspace w : free) w.close();
    }
}
