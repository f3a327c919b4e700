package org.tune4j.server;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.tune4j.serve.AdapterPredictor;

/**
 * Dynamic batching (ARCHITECTURE.md "Many adapters"): requests wait in a bounded queue; a worker takes the oldest,
 * then whatever else arrives within the latency budget (the window, counted from the oldest's arrival), up to
 * {@code maxBatch} texts, whatever their adapters, and runs them as one batch. A full queue (in requests, or in the
 * characters of the texts accepted and not yet answered) refuses at once ({@link #offer} is false: the server answers 429). Every job taken is completed, with its results or its own
 * error: when a batch fails, its jobs are run one by one so that one bad request fails alone. Each batch runs on the
 * kernel threads {@link KernelThreads} gives it, by whether the server is busy: the batch full, or requests waiting
 * behind it. {@link #close} stops taking jobs and returns when every accepted one has been answered.
 */
final class RequestBatcher implements AutoCloseable {
    /** One request's texts for one adapter (null: the base encoder); {@code done} gets a result per text. */
    record Job(String adapter, List<String> texts, long arrivedNanos, CompletableFuture<List<AdapterPredictor.Result>> done) {
        Job(String adapter, List<String> texts) {
            this(adapter, texts, System.nanoTime(), new CompletableFuture<>());
        }

        long chars() {
            long n = 0;
            for (String t : texts) n += t.length();
            return n;
        }
    }

    private final AdapterPredictor predictor;
    private final int maxBatch;
    private final long windowNanos;
    private final ArrayBlockingQueue<Job> queue;
    private final long maxQueuedChars;
    private long queuedChars; // of the jobs accepted and not yet answered; guarded by this
    private final List<Thread> workers = new ArrayList<>();
    private final ServerMetrics metrics;
    private final KernelThreads threads;
    private volatile boolean closing;
    private final java.util.concurrent.atomic.AtomicLong accepted = new java.util.concurrent.atomic.AtomicLong(), answered = new java.util.concurrent.atomic.AtomicLong();

    RequestBatcher(AdapterPredictor predictor, int maxBatch, long windowMicros, int queueCapacity, long maxQueuedChars, int workerCount, KernelThreads threads, ServerMetrics metrics) {
        this.threads = threads;
        this.maxQueuedChars = maxQueuedChars;
        this.predictor = predictor;
        this.maxBatch = maxBatch;
        this.windowNanos = windowMicros * 1000;
        this.queue = new ArrayBlockingQueue<>(queueCapacity);
        this.metrics = metrics;
        for (int i = 0; i < workerCount; i++) {
            Thread t = Thread.ofPlatform().name("tune4j-batcher-" + i).daemon(true).start(this::work);
            workers.add(t);
        }
    }

    /**
     * Queues a job; false when the queue is full (in jobs, or in the characters of the texts accepted and not yet
     * answered) or the batcher is closing (nothing was accepted then).
     */
    boolean offer(Job job) {
        if (closing) return false;
        long chars = job.chars();
        synchronized (this) { // against close(): a job is queued before closing is seen, or refused
            if (closing || queuedChars + chars > maxQueuedChars || !queue.offer(job)) return false;
            queuedChars += chars;
            accepted.incrementAndGet();
            job.done().whenComplete((r, e) -> {
                synchronized (this) {
                    queuedChars -= chars;
                }
                answered.incrementAndGet();
            });
            return true;
        }
    }

    /** Jobs accepted into the queue since the start. */
    long accepted() {
        return accepted.get();
    }

    /** Jobs answered (with results or an error) since the start: equal to {@link #accepted} once closed. */
    long answered() {
        return answered.get();
    }

    int queued() {
        return queue.size();
    }

    boolean closing() {
        return closing;
    }

    private void work() {
        Job carry = null; // a job that did not fit the last batch: it starts the next
        while (true) {
            Job first = carry;
            carry = null;
            try {
                if (first == null) first = queue.poll(50, TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
            if (first == null) {
                if (closing && queue.isEmpty()) return;
                continue;
            }
            List<Job> batch = new ArrayList<>();
            batch.add(first);
            int texts = first.texts().size();
            long deadline = first.arrivedNanos() + windowNanos;
            while (texts < maxBatch) {
                Job next;
                long wait = deadline - System.nanoTime();
                try {
                    next = wait > 0 ? queue.poll(wait, TimeUnit.NANOSECONDS) : queue.poll();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    next = null;
                }
                if (next == null) break;
                if (texts + next.texts().size() > maxBatch) {
                    carry = next;
                    break;
                }
                batch.add(next);
                texts += next.texts().size();
            }
            run(batch, texts, threads.capCaller(texts == maxBatch || carry != null || !queue.isEmpty()));
        }
    }

    /** Runs {@code batch} ({@code texts} in all) on {@code kernelThreads} (as {@link KernelThreads#capCaller} returned). */
    private void run(List<Job> batch, int texts, int kernelThreads) {
        List<AdapterPredictor.Request> requests = new ArrayList<>(texts);
        for (Job j : batch) for (String t : j.texts()) requests.add(new AdapterPredictor.Request(j.adapter(), t));
        long t0 = System.nanoTime();
        try {
            List<AdapterPredictor.Result> results = predictor.run(requests, false);
            metrics.batch(texts, batch.size(), System.nanoTime() - t0, kernelThreads);
            int at = 0;
            for (Job j : batch) {
                j.done().complete(results.subList(at, at + j.texts().size()));
                at += j.texts().size();
            }
        } catch (Throwable e) {
            if (batch.size() == 1) {
                batch.getFirst().done().completeExceptionally(e);
                return;
            }
            for (Job j : batch) run(List.of(j), j.texts().size(), kernelThreads); // find the one that failed
        }
    }

    /** Refuses new jobs, then waits until every accepted job is answered. */
    @Override
    public void close() {
        synchronized (this) {
            closing = true;
        }
        for (Thread t : workers) {
            try {
                t.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }
}
