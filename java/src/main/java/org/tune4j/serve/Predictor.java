package org.tune4j.serve;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import org.tune4j.backend.Backend;
import org.tune4j.io.Checkpoint;
import org.tune4j.io.PeftAdapter;
import org.tune4j.nn.Lora;
import org.tune4j.nn.LoraLinear;
import org.tune4j.nn.VisionTransformer;
import org.tune4j.nn.VitInference;
import org.tune4j.train.Adaptation;

/**
 * Serves a saved ViT classifier (f32, compressed to int8 and/or 2:4, optionally with a LoRA adapter kept
 * unmerged) to many threads. Each call borrows one of {@code workspaces} sets of buffers made at load
 * time, so the hot path allocates nothing on the Java heap and nothing native beyond the kernels' own
 * scratch; callers beyond that many wait for a free one. Inputs are checked and rejected with an
 * {@link IllegalArgumentException} naming what is wrong; the model never changes after loading.
 */
public final class Predictor implements AutoCloseable {
    /** Batches of up to {@code maxBatch} images; {@code workspaces} callers at a time. */
    public record Options(int maxBatch, int workspaces) {
        public Options {
            if (maxBatch < 1) throw new IllegalArgumentException("maxBatch must be >= 1, is " + maxBatch);
            if (workspaces < 1) throw new IllegalArgumentException("workspaces must be >= 1, is " + workspaces);
        }

        /** Batches up to 8, one workspace per available processor. */
        public static Options defaults() {
            return new Options(8, Runtime.getRuntime().availableProcessors());
        }
    }

    private final Backend backend;
    private final Arena arena;
    private final boolean ownsArena;
    private final VitInference inference;
    private final ArrayBlockingQueue<Slot> free;
    private final AtomicBoolean closed = new AtomicBoolean();
    private final int maxBatch;
    private final int workspaces;

    /** One caller's workspace and its output row for {@link #classify}. */
    private record Slot(VitInference.Workspace workspace, float[] logits) {}

    private Predictor(Backend backend, Arena arena, boolean ownsArena, VisionTransformer vit, Options o) {
        this.backend = backend;
        this.arena = arena;
        this.ownsArena = ownsArena;
        this.inference = new VitInference(vit);
        this.maxBatch = o.maxBatch();
        this.workspaces = o.workspaces();
        vit.train(false);
        free = new ArrayBlockingQueue<>(o.workspaces());
        for (int i = 0; i < o.workspaces(); i++) free.add(new Slot(inference.workspace(arena, o.maxBatch()), new float[inference.classes()]));
    }

    /**
     * Loads {@code model} (a checkpoint written by tune4j, compressed or not) and, when {@code adapter} is
     * not null, the PEFT adapter directory there, kept unmerged over the base (a DoRA adapter merged: its
     * per-row rescaling of W + s·B A is served at base speed only that way).
     */
    public static Predictor load(Backend backend, Path model, Path adapter, Options o) throws IOException {
        Arena arena = Arena.ofShared();
        try {
            VisionTransformer vit = Adaptation.load(arena, model);
            if (adapter != null) attach(backend, arena, vit, adapter);
            return new Predictor(backend, arena, true, vit, o);
        } catch (IOException | RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    /** Serves a model already in memory (the caller keeps it and its arena alive, and unchanged, while this is used). */
    public static Predictor of(Backend backend, Arena arena, VisionTransformer vit, Options o) {
        return new Predictor(backend, arena, false, vit, o);
    }

    private static void attach(Backend backend, Arena arena, VisionTransformer vit, Path dir) throws IOException {
        try (PeftAdapter.Loaded a = PeftAdapter.load(dir)) {
            PeftAdapter.Config c = a.config();
            Map<String, LoraLinear> injected = Lora.inject(vit, arena, new Lora.Config(c.r(), c.alpha(), 0f, c.useRslora(), c.targetModules(),
                    java.util.List.of()).withVariant(false, c.useDora()), new SplittableRandom(0));
            for (Map.Entry<String, LoraLinear> e : injected.entrySet()) {
                PeftAdapter.Lora l = a.modules().get(e.getKey());
                if (l == null) throw new IOException(dir + ": the adapter has no weights for '" + e.getKey() + "'");
                Checkpoint.copy(dir, e.getKey() + ".lora_A", l.a(), e.getValue().loraA().value());
                Checkpoint.copy(dir, e.getKey() + ".lora_B", l.b(), e.getValue().loraB().value());
                if (c.useDora()) {
                    Checkpoint.copy(dir, e.getKey() + ".lora_magnitude_vector", l.magnitude(), e.getValue().magnitude().value());
                    e.getValue().merge(backend);
                }
            }
        }
    }

    public int pixels() {
        return inference.pixels();
    }

    public int classes() {
        return inference.classes();
    }

    /**
     * logits [batch, classes] of {@code batch} images [batch, pixels] (f32, row-major, values finite) into
     * {@code out} (at least batch·classes long).
     */
    public void logits(float[] images, int batch, float[] out) {
        check(images, batch);
        if (out == null || out.length < batch * classes()) {
            throw new IllegalArgumentException("out must hold " + batch * classes() + " logits, has " + (out == null ? "null" : out.length));
        }
        Slot slot = borrow();
        try {
            inference.logits(backend, slot.workspace(), images, 0, batch, out);
        } finally {
            free.add(slot);
        }
    }

    /** The class of one image [pixels]. */
    public int classify(float[] image) {
        check(image, 1);
        Slot slot = borrow();
        try {
            inference.logits(backend, slot.workspace(), image, 0, 1, slot.logits());
            float[] l = slot.logits();
            int best = 0;
            for (int c = 1; c < l.length; c++) if (l[c] > l[best]) best = c;
            return best;
        } finally {
            free.add(slot);
        }
    }

    private void check(float[] images, int batch) {
        if (closed.get()) throw new IllegalStateException("this predictor is closed");
        if (batch < 1 || batch > maxBatch) throw new IllegalArgumentException("batch must be in [1, " + maxBatch + "], is " + batch);
        if (images == null) throw new IllegalArgumentException("images is null");
        int n = batch * pixels();
        if (images.length != n) {
            throw new IllegalArgumentException("expected " + batch + " image(s) of " + pixels() + " pixels (" + n + " values), got " + images.length);
        }
        for (int i = 0; i < n; i++) {
            if (!Float.isFinite(images[i])) throw new IllegalArgumentException("image " + i / pixels() + ", pixel " + i % pixels() + " is " + images[i]);
        }
    }

    public int maxBatch() {
        return maxBatch;
    }

    /** A free workspace, waiting while all are busy; refused once the predictor is closing. */
    private Slot borrow() {
        try {
            while (true) {
                Slot slot = free.poll(50, java.util.concurrent.TimeUnit.MILLISECONDS);
                if (closed.get()) {
                    if (slot != null) free.add(slot);
                    throw new IllegalStateException("this predictor is closed");
                }
                if (slot != null) return slot;
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for a free workspace", e);
        }
    }

    /** Refuses new calls, waits for those in flight, then frees the model's memory (when loaded here). */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) return;
        boolean interrupted = false;
        for (int i = 0; i < workspaces; ) { // every workspace back: nothing in flight
            try {
                free.take();
                i++;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) Thread.currentThread().interrupt();
        if (ownsArena) arena.close();
    }
}
