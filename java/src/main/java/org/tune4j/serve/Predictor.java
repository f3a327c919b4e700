package org.tune4j.serve;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import org.tune4j.autograd.Tape;
import org.tune4j.autograd.Workspace;
import org.tune4j.backend.Backend;
import org.tune4j.backend.PackedLinearWeights;
import org.tune4j.io.Checkpoint;
import org.tune4j.io.ModelFile;
import org.tune4j.io.PeftAdapter;
import org.tune4j.nn.Linear;
import org.tune4j.nn.Lora;
import org.tune4j.nn.LoraLinear;
import org.tune4j.nn.VisionTransformer;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Memory;
import org.tune4j.tensor.Tensor;

/**
 * Serves a saved ViT classifier (f32, compressed to int8 and/or 2:4, optionally with a LoRA adapter kept
 * unmerged) to many threads. A call runs the model's own forward ({@link VisionTransformer#logits}, the one the
 * training loop runs) on a no-grad {@link Tape} over one of {@code workspaces} {@link Workspace}s, each sized at load
 * time by a forward at {@code maxBatch}: every call finds its activations at the same addresses, so the hot path
 * makes no native memory beyond the kernels' own scratch (on the Java heap, the tape's small op records);
 * callers beyond that many wait for a free one. On the CPU the f32 linear layers' weights are packed once, at load, for
 * the GEMM ({@link Tape#packedWeights}), as ONNX Runtime packs a session's constant weights: a call does not lay them
 * out again (at batch 1 that was a third of the ViT's time). Inputs are checked and rejected with an
 * {@link IllegalArgumentException} naming what is wrong; the model never changes after loading.
 */
public final class Predictor implements AutoCloseable {
    /** Batches of up to {@code maxBatch} images; {@code workspaces} callers at a time. */
    public record Options(int maxBatch, int workspaces) {
        /** Bounds on both: every batch size up to maxBatch gets views of its own, made once per workspace. */
        public static final int MAX_BATCH = 4096, MAX_WORKSPACES = 1024;

        public Options {
            if (maxBatch < 1 || maxBatch > MAX_BATCH) throw new IllegalArgumentException("maxBatch must be in [1, " + MAX_BATCH + "], is " + maxBatch);
            if (workspaces < 1 || workspaces > MAX_WORKSPACES) {
                throw new IllegalArgumentException("workspaces must be in [1, " + MAX_WORKSPACES + "], is " + workspaces);
            }
        }

        /** Batches up to 8, one workspace per available processor. */
        public static Options defaults() {
            return new Options(8, Math.min(MAX_WORKSPACES, Runtime.getRuntime().availableProcessors()));
        }
    }

    private final Backend backend;
    private final Arena arena;
    private final boolean ownsArena;
    private final VisionTransformer vit;
    private final Arena packedArena = Arena.ofShared(); // the packed weights: the predictor's, whoever owns the model
    private final Map<Tensor, PackedLinearWeights> packed;
    private final LeasePool<Slot> slots; // the callers' workspaces, most recently used first
    private final AtomicBoolean closed = new AtomicBoolean();
    private final int maxBatch;
    private final int workspaces;
    private final List<String> adaptedLayers;

    /** One caller's workspace and its output row for {@link #classify}. */
    private record Slot(Workspace workspace, float[] logits) {}

    private Predictor(Backend backend, Arena arena, boolean ownsArena, VisionTransformer vit, Options o, List<String> adaptedLayers) {
        this.adaptedLayers = adaptedLayers;
        this.backend = backend;
        this.arena = arena;
        this.ownsArena = ownsArena;
        this.vit = vit;
        this.maxBatch = o.maxBatch();
        this.workspaces = o.workspaces();
        vit.train(false);
        List<Slot> made = new ArrayList<>();
        try {
            packed = packLinears(backend, packedArena, vit);
            // a forward of one image says what an image needs: too many or too large workspaces are refused before they are made
            long perImage;
            try (Workspace probe = new Workspace()) {
                forward(probe, new float[pixels()], 1, new float[classes()]);
                perImage = probe.needed();
            }
            refuseBeyondMemory(perImage * o.maxBatch() * o.workspaces());
            for (int i = 0; i < o.workspaces(); i++) {
                Slot s = warmedSlot();
                made.add(s);
                refuseBeyondMemory(s.workspace().needed() * o.workspaces()); // the measured size, not the estimate
            }
            slots = new LeasePool<>("this predictor", made, s -> s.workspace().close());
        } catch (OutOfMemoryError e) {
            for (Slot s : made) s.workspace().close();
            packedArena.close();
            throw new IllegalArgumentException(o.workspaces() + " workspaces for batches of up to " + o.maxBatch() + " images need more memory than there is to spare: ask for fewer or smaller ones");
        } catch (RuntimeException e) {
            for (Slot s : made) s.workspace().close();
            packedArena.close();
            throw e;
        }
    }

    /**
     * The weights of the model's f32 linear layers packed for the CPU GEMM, by weight (none under a device backend, whose
     * GEMM does not take them; none for the base of a LoRA layer, which its own op reads).
     */
    private static Map<Tensor, PackedLinearWeights> packLinears(Backend backend, Arena arena, VisionTransformer vit) {
        Map<Tensor, PackedLinearWeights> packed = new IdentityHashMap<>();
        if (!backend.memory().isHost()) return packed;
        vit.namedModules().forEach((path, m) -> {
            if (m instanceof Linear l && !path.endsWith(".base") && l.weight().value().isHost()) packed.put(l.weight().value(), PackedLinearWeights.pack(arena, l.weight().value()));
        });
        return packed;
    }

    private void refuseBeyondMemory(long need) {
        WorkingMemory.refuseBeyondHalf(need, workspaces + " workspaces for batches of up to " + maxBatch + " images", "ask for fewer or smaller ones");
    }

    /**
     * A workspace that has run two forwards at maxBatch (zero images): the first says what a step needs, the second
     * runs on memory of that size and touches it, so that no call grows it or waits for its pages.
     */
    private Slot warmedSlot() {
        Slot slot = new Slot(new Workspace(), new float[classes()]);
        try {
            float[] images = new float[maxBatch * pixels()], logits = new float[maxBatch * classes()];
            forward(slot.workspace(), images, maxBatch, logits);
            forward(slot.workspace(), images, maxBatch, logits);
        } catch (RuntimeException | Error e) {
            slot.workspace().close();
            throw e;
        }
        return slot;
    }

    /** logits [batch, classes] of images [batch, pixels] into out: the model's forward on a no-grad tape over ws. */
    private void forward(Workspace ws, float[] images, int batch, float[] out) {
        int pixels = pixels(), classes = classes();
        try (Tape t = new Tape(backend, false, false, ws).packedWeights(packed)) {
            // the images in the step's memory on the host; under a device backend the patch extraction copies them over
            Tensor x = backend.memory().isHost() ? t.zeros(batch, pixels) : Tensor.zeros(t.arena(), DType.F32, batch, pixels);
            MemorySegment.copy(images, 0, x.segment(), ValueLayout.JAVA_FLOAT, 0, batch * pixels);
            Tensor y = vit.logits(t, t.input(x, false)).value();
            if (!y.isHost()) y = y.copy(t.arena(), Memory.HOST);
            for (int b = 0; b < batch; b++) MemorySegment.copy(y.segment(), ValueLayout.JAVA_FLOAT, (long) b * y.ld() * 4, out, b * classes, classes);
        }
    }

    /**
     * Loads {@code model} (a checkpoint written by tune4j, compressed or not) and, when {@code adapter} is
     * not null, the PEFT adapter directory there, kept unmerged over the base (a DoRA adapter merged: its
     * per-row rescaling of W + s·B A is served at base speed only that way).
     */
    public static Predictor load(Backend backend, Path model, Path adapter, Options o) throws IOException {
        Arena arena = Arena.ofShared();
        try {
            VisionTransformer vit = ModelFile.load(arena, model);
            List<String> adapted = adapter != null ? attach(backend, arena, vit, adapter) : List.of();
            return new Predictor(backend, arena, true, vit, o, adapted);
        } catch (IOException | RuntimeException | Error e) {
            arena.close();
            throw e;
        }
    }

    /**
     * Serves a model already in memory (the caller keeps it and its arena alive, and unchanged, while this is used: on
     * the CPU its f32 linear weights are packed here, and a change made to them afterwards would not be served).
     */
    public static Predictor of(Backend backend, Arena arena, VisionTransformer vit, Options o) {
        return new Predictor(backend, arena, false, vit, o, List.of());
    }

    /**
     * Injects the adapter at {@code dir} into {@code vit}: the layers its {@code target_modules} pick out of
     * this model must be exactly the layers it holds weights for (an adapter that matches fewer or other
     * layers than it holds is refused, naming them). Returns the layers adapted.
     */
    private static List<String> attach(Backend backend, Arena arena, VisionTransformer vit, Path dir) throws IOException {
        try (PeftAdapter.Loaded a = PeftAdapter.load(dir)) {
            PeftAdapter.Config c = a.config();
            List<String> targeted = new ArrayList<>();
            vit.namedModules().forEach((path, m) -> {
                if (m instanceof Linear && c.targets(path)) targeted.add(path);
            });
            List<String> unmatched = a.modules().keySet().stream().filter(m -> !targeted.contains(m)).toList();
            if (!unmatched.isEmpty()) throw new IOException(dir + ": the adapter holds weights for " + unmatched + ", which its target_modules do not pick in this model");
            List<String> missing = targeted.stream().filter(m -> !a.modules().containsKey(m)).toList();
            if (!missing.isEmpty()) throw new IOException(dir + ": its target_modules pick " + missing + ", for which the adapter holds no weights");
            Map<String, LoraLinear> injected = Lora.inject(vit, arena, new Lora.Config(c.r(), c.alpha(), 0f, c.useRslora(), targeted,
                    List.of()).withVariant(false, c.useDora()), new SplittableRandom(0));
            for (Map.Entry<String, LoraLinear> e : injected.entrySet()) {
                PeftAdapter.Lora l = a.modules().get(e.getKey());
                Checkpoint.copy(dir, e.getKey() + ".lora_A", l.a(), e.getValue().loraA().value());
                Checkpoint.copy(dir, e.getKey() + ".lora_B", l.b(), e.getValue().loraB().value());
                if (c.useDora()) {
                    Checkpoint.copy(dir, e.getKey() + ".lora_magnitude_vector", l.magnitude(), e.getValue().magnitude().value());
                    e.getValue().merge(backend);
                }
            }
            return List.copyOf(injected.keySet());
        }
    }

    /** The layers the PEFT adapter adapts, in model order; empty without one. */
    public List<String> adaptedLayers() {
        return adaptedLayers;
    }

    public int pixels() {
        return vit.config().image() * vit.config().image();
    }

    public int classes() {
        return vit.config().classes();
    }

    /**
     * logits [batch, classes] of {@code batch} images [batch, pixels] (f32, row-major, values finite) into
     * {@code out} (at least batch·classes long).
     */
    public void logits(float[] images, int batch, float[] out) {
        check(images, batch);
        if (out == null || out.length < (long) batch * classes()) {
            throw new IllegalArgumentException("out must hold " + (long) batch * classes() + " logits, has " + (out == null ? "null" : out.length));
        }
        Slot slot = slots.take();
        try {
            forward(slot.workspace(), images, batch, out);
        } finally {
            slots.give(slot);
        }
    }

    /** The class of one image [pixels]. */
    public int classify(float[] image) {
        check(image, 1);
        Slot slot = slots.take();
        try {
            forward(slot.workspace(), image, 1, slot.logits());
            float[] l = slot.logits();
            int best = 0;
            for (int c = 1; c < l.length; c++) if (l[c] > l[best]) best = c;
            return best;
        } finally {
            slots.give(slot);
        }
    }

    private void check(float[] images, int batch) {
        slots.checkOpen();
        if (batch < 1 || batch > maxBatch) throw new IllegalArgumentException("batch must be in [1, " + maxBatch + "], is " + batch);
        if (images == null) throw new IllegalArgumentException("images is null");
        int n = batch * pixels(); // batch <= MAX_BATCH: fits an int
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

    /** Bytes the workspaces hold (each sized at load by a forward at maxBatch; a call never grows them). */
    public long workspaceBytes() {
        long bytes = 0;
        for (Slot s : slots.items()) bytes += s.workspace().capacity();
        return bytes;
    }

    /** Refuses new calls, waits for those in flight, then frees the model's memory (when loaded here). */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) return;
        slots.close(); // every workspace back: nothing in flight
        packedArena.close();
        if (ownsArena) arena.close();
    }
}
