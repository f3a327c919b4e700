package org.tune4j.serve;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.LinkedBlockingDeque;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import org.tune4j.autograd.Workspace;

/**
 * A fixed set of items (each a caller's {@link Workspace}, and what else one call needs) shared by a predictor's callers:
 * a call takes one, waiting while all are in use, and gives it back, so that at most that many calls run at a time,
 * each on memory that later calls reuse. The item given back last goes out first: its memory is still in the caches
 * (taken in turn, as a queue would, n items keep n times the memory warm for one caller).
 *
 * <p>{@link #close} refuses new calls, waits until every item is back (the calls in flight finish), then frees each:
 * the predictor may then free its model, and no running call ever reads freed memory. A call waiting for an item
 * when the pool closes is refused with an {@link IllegalStateException} naming the owner.
 */
final class LeasePool<T> implements AutoCloseable {
    /** The most items a pool holds. */
    static final int MAX = 1024;

    private final String owner;
    private final List<T> all;
    private final Consumer<T> release;
    private final LinkedBlockingDeque<T> free;
    private final AtomicBoolean closed = new AtomicBoolean();
    private final ThreadLocal<int[]> held = ThreadLocal.withInitial(() -> new int[1]); // items the calling thread has out

    /** {@code owner}: what the refusal names ("this SentenceEncoder"); {@code release} frees an item at close. */
    LeasePool(String owner, List<T> items, Consumer<T> release) {
        if (items.isEmpty() || items.size() > MAX) throw new IllegalArgumentException("workspaces must be in [1, " + MAX + "], is " + items.size());
        this.owner = owner;
        this.all = List.copyOf(items);
        this.release = release;
        this.free = new LinkedBlockingDeque<>(all);
    }

    /** {@code count} empty workspaces, which grow to what their calls need. */
    static LeasePool<Workspace> workspaces(String owner, int count) {
        if (count < 1 || count > MAX) throw new IllegalArgumentException("workspaces must be in [1, " + MAX + "], is " + count);
        List<Workspace> made = new ArrayList<>(count);
        for (int i = 0; i < count; i++) made.add(new Workspace());
        return new LeasePool<>(owner, made, Workspace::close);
    }

    /** A free item, waiting while all are in use; give it back with {@link #give}. Refused once the pool is closing. */
    T take() {
        checkOpen();
        try {
            while (true) {
                T item = free.pollFirst(50, TimeUnit.MILLISECONDS); // wakes to see a close while it waits
                if (closed.get()) {
                    if (item != null) free.addFirst(item);
                    throw closedError();
                }
                if (item != null) {
                    held.get()[0]++;
                    return item;
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for a free workspace of " + owner, e);
        }
    }

    /** Gives back an item {@link #take} gave this thread. */
    void give(T item) {
        held.get()[0]--;
        free.addFirst(item);
    }

    /** Throws the refusal a call gets once the pool is closed. */
    void checkOpen() {
        if (closed.get()) throw closedError();
    }

    /** Every item, free or in use. */
    List<T> items() {
        return all;
    }

    private IllegalStateException closedError() {
        return new IllegalStateException(owner + " is closed");
    }

    /**
     * Refuses new calls, waits for every item to come back, then frees them; a second close does nothing. A close from
     * inside a call (a thread that has an item out) would wait for itself: it is refused.
     */
    @Override
    public void close() {
        if (held.get()[0] > 0) throw new IllegalStateException("close of " + owner + " from inside one of its calls: it would wait for itself");
        if (!closed.compareAndSet(false, true)) return;
        boolean interrupted = false;
        for (int back = 0; back < all.size(); ) {
            try {
                free.takeFirst();
                back++;
            } catch (InterruptedException e) {
                interrupted = true; // the calls in flight still use their items: wait on, and say so after
            }
        }
        if (interrupted) Thread.currentThread().interrupt();
        for (T item : all) release.accept(item);
    }
}
