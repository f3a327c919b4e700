package org.tune4j.autograd;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.tune4j.backend.Backend;
import org.tune4j.backend.CpuBackend;

/**
 * One training step's batch as micro-batches, data parallel on the CPU (ARCHITECTURE.md, "Micro-batches"). Part k's loss
 * is built on a tape of its own and sent back with seed {@code weights[k]} (its share of the batch, so that the parts'
 * gradients sum to the whole batch's mean); part 0's parameter gradients go into the parameters' own as a single tape's
 * do, each later part's into tensors of its tape and then added, in part order. So a step's bits depend on the parts,
 * never on how many of them run at once. Part 0 draws its dropout masks as a single tape does (the layers' own
 * generators), each later part from a generator of its own split off {@code random} in part order.
 *
 * <p>On the CPU backend, when the kernels have no more threads than there are parts, the parts run at once, in as many
 * lanes as threads (lane j: parts j, j + threads, ... in order, in a workspace of its own), each lane on a thread of its
 * own with its kernels capped at one thread ({@link CpuBackend#setCallerThreads}): each
 * part's ops then run without a barrier between threads and on the data its own core wrote (MiniLM's LoRA step on two
 * threads about 5% faster than with every kernel of the whole batch split between the threads, full fine-tuning's 7%:
 * BENCHMARKS.md). Elsewhere (a GPU, more threads than parts) they run in turn on the calling thread, every kernel on all
 * the threads, in one workspace: a step then holds one part's activations at a time. Parts that run at once read the
 * model from threads of their own: its tensors must be in a shared arena ({@code Arena.ofShared()}), and a part's
 * inputs are made in its tape's arena ({@code t.arena()}).
 */
public final class MicroBatches implements AutoCloseable {
    /** Builds part {@code part}'s loss (a scalar, the mean over that part's examples) on {@code tape}. */
    @FunctionalInterface
    public interface PartLoss {
        Var loss(Tape tape, int part);
    }

    /** Builds the loss of a batch's examples [from, to) (a scalar, their mean) on {@code tape}. */
    @FunctionalInterface
    public interface SliceLoss {
        Var loss(Tape tape, int from, int to);
    }

    private final Backend backend;
    private final Workspace[] workspaces;
    private final SplittableRandom random;
    private ExecutorService pool; // made on first concurrent step
    private volatile long stepBytes; // the last step's, set when it ends

    /**
     * {@code parts} micro-batches a step (their step memory: one workspace while they run in turn, one a lane at once);
     * later parts' dropout from {@code random}.
     */
    public MicroBatches(Backend backend, int parts, SplittableRandom random) {
        if (parts < 1) throw new IllegalArgumentException("micro-batches must be >= 1, is " + parts);
        this.backend = backend;
        this.random = random;
        this.workspaces = new Workspace[parts];
        for (int k = 0; k < parts; k++) workspaces[k] = new Workspace();
    }

    /** As {@link #MicroBatches(Backend, int, SplittableRandom)}, later parts' dropout from a generator of its own made from a training run's {@code seed}. */
    public MicroBatches(Backend backend, int parts, long seed) {
        this(backend, parts, new SplittableRandom(seed ^ 0x9E3779B97F4A7C15L)); // apart from the generators the run seeds directly
    }

    public int parts() {
        return workspaces.length;
    }

    /** Bytes the last step's parts held at once: the largest part's when they ran in turn, each lane's largest summed when at once. */
    public long stepBytes() {
        return stepBytes;
    }

    /** Bytes the workspaces need for the largest steps so far: in turn the parts share the first, at once a lane's parts share its own. */
    public long workspaceBytes() {
        long bytes = 0;
        for (Workspace w : workspaces) bytes += w.needed();
        return bytes;
    }

    /**
     * Runs one step's forward and backward over a batch of {@code n} examples as P = min({@link #parts()}, n) parts of
     * even size: part k takes examples [k·n/P, (k+1)·n/P), its seed its share of them. Returns the batch's summed loss
     * (each part's mean times its examples).
     */
    public double step(int n, SliceLoss loss) {
        if (n < 1) throw new IllegalArgumentException("a batch of " + n + " examples");
        int p = Math.min(parts(), n);
        int[] bound = new int[p + 1]; // part k: examples [bound[k], bound[k + 1])
        for (int k = 0; k <= p; k++) bound[k] = (int) ((long) k * n / p);
        double[] weights = new double[p];
        for (int k = 0; k < p; k++) weights[k] = (double) (bound[k + 1] - bound[k]) / n;
        float[] losses = step((t, k) -> loss.loss(t, bound[k], bound[k + 1]), weights);
        double sum = 0;
        for (int k = 0; k < p; k++) sum += losses[k] * (double) (bound[k + 1] - bound[k]);
        return sum;
    }

    /**
     * Runs one step's forward and backward over {@code weights.length} parts (at most {@link #parts()}: a last batch may
     * be cut into fewer); the parameters' gradients get the sum of theirs. Returns each part's loss. {@code weights[k]}:
     * part k's seed, its examples over the batch's.
     */
    public float[] step(PartLoss loss, double[] weights) {
        int parts = weights.length;
        if (parts < 1 || parts > workspaces.length) throw new IllegalArgumentException(parts + " weights for at most " + workspaces.length + " micro-batches");
        SplittableRandom[] own = new SplittableRandom[parts];
        for (int k = 1; k < parts; k++) own[k] = random.split();
        float[] losses = new float[parts];
        int threads = backend instanceof CpuBackend ? CpuBackend.threads() : 1;
        if (parts == 1 || threads == 1 || threads > parts) { // in turn, one part's memory at a time: the first part's workspace serves all
            long[] held = new long[1];
            for (int k = 0; k < parts; k++) losses[k] = run(loss, k, weights[k], own[k], null, false, workspaces[0], held, 0);
            stepBytes = held[0];
            return losses;
        }
        CountDownLatch[] added = new CountDownLatch[parts]; // part k's gradients are in the parameters'
        for (int k = 0; k < parts; k++) added[k] = new CountDownLatch(1);
        if (pool == null) pool = Executors.newFixedThreadPool(threads, r -> {
            Thread t = new Thread(r, "tune4j-micro-batch");
            t.setDaemon(true);
            return t;
        });
        // lane j runs parts j, j + threads, ... in order, in workspace j: as many parts' memory as threads. Part k waits for
        // part k - 1, which its lane reaches first, so no lane waits on one that waits on it
        Throwable[] failed = new Throwable[parts];
        long[] held = new long[threads]; // each lane's largest part
        List<Future<?>> lanes = new ArrayList<>();
        for (int j = 0; j < threads; j++) {
            int lane = j;
            lanes.add(pool.submit(() -> {
                for (int k = lane; k < parts; k += threads) {
                    try {
                        losses[k] = run(loss, k, weights[k], own[k], k == 0 ? null : added[k - 1], true, workspaces[lane], held, lane);
                    } catch (RuntimeException | Error e) {
                        failed[k] = e; // the later parts still run and add theirs (the step fails below)
                    } finally {
                        added[k].countDown();
                    }
                }
            }));
        }
        for (Future<?> lane : lanes) {
            try {
                lane.get();
            } catch (ExecutionException e) {
                throw new IllegalStateException("a micro-batch lane failed", e.getCause()); // its parts' failures are caught: not reached
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while the micro-batches ran", e);
            }
        }
        stepBytes = Arrays.stream(held).sum();
        for (int k = 0; k < parts; k++) {
            if (failed[k] instanceof Error e) throw e;
            if (failed[k] != null) throw partFailure(k, failed[k]);
        }
        return losses;
    }

    /** What part k's failure on a thread of its own says: a confined tensor named as the cause, others as they are. */
    private static RuntimeException partFailure(int k, Throwable cause) {
        if (cause instanceof WrongThreadException w)
            return new IllegalStateException("micro-batch " + k + " ran on a thread of its own and met a tensor of a confined arena: parts that run at once "
                    + "need the model's tensors in a shared arena (Arena.ofShared()) and their inputs made in the part's tape (t.arena()), or one thread", w);
        return cause instanceof RuntimeException r ? r : new IllegalStateException("micro-batch " + k + " failed", cause);
    }

    /**
     * Part {@code k} on the calling thread, in {@code workspace}, its bytes kept in {@code held[slot]} if the most yet: at
     * once with the others (its kernels on this thread alone, its lane's workspace; a later part adds its gradients once
     * part k - 1 has, {@code before}), or in turn (the first part's workspace: one part's memory at a time).
     */
    private float run(PartLoss loss, int k, double weight, SplittableRandom own, CountDownLatch before, boolean atOnce, Workspace workspace, long[] held,
            int slot) {
        if (atOnce) CpuBackend.setCallerThreads(1);
        try (Tape t = new Tape(backend, true, true, workspace)) {
            if (k > 0) t.microBatch(own);
            Var l = loss.loss(t, k);
            float value = l.value().isHost() ? l.value().getFloat(0) : Float.NaN;
            t.backward(l, (float) weight);
            held[slot] = Math.max(held[slot], t.allocatedBytes());
            if (k > 0) {
                if (before != null) await(before);
                t.addApartGradients();
            }
            return value;
        } finally {
            if (atOnce) CpuBackend.setCallerThreads(0);
        }
    }

    private static void await(CountDownLatch latch) {
        try {
            latch.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for the micro-batch before", e);
        }
    }

    @Override
    public void close() {
        if (pool != null) pool.shutdownNow();
        for (Workspace w : workspaces) w.close();
    }
}
