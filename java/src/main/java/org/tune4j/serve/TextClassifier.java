package org.tune4j.serve;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.List;
import org.tune4j.backend.Backend;
import org.tune4j.backend.CpuBackend;
import org.tune4j.io.BertAdapter;
import org.tune4j.nn.BertClassifier;
import org.tune4j.nn.CompressedLinear;
import org.tune4j.nn.Lora;
import org.tune4j.tensor.Memory;
import org.tune4j.tensor.Tensor;

/**
 * A fine-tuned text classifier for a service that embeds tune4j: an encoder folder and the adapter folder {@code tune4j
 * finetune} (or {@link BertAdapter#save}) wrote, LoRA or DoRA with its classifier head. The adapter is folded into the
 * encoder's weights once (W + s·B A, as PEFT's merge_and_unload), so a text costs what it costs the plain encoder: on the
 * CPU every projection is packed once for the GEMM (or compressed to int8 or 2:4 after the fold); a device backend gets
 * the merged model in its memory. Texts run in batches of about one length ({@link SentenceEncoder}'s order). Safe from many threads: up to {@code workspaces}
 * batches at a time, callers beyond wait; {@link #close} waits for the calls in flight. Bad input (no texts, an empty one) is an {@link IllegalArgumentException}; a
 * folder that is not what it should be, an {@link java.io.IOException} naming it.
 */
public final class TextClassifier implements AutoCloseable {
    /**
     * {@code maxLength}: tokens kept a text (0: as {@link SentenceEncoder.Options}); {@code batch}: texts a forward;
     * {@code workspaces}: batches at a time; {@code weights}: how the folded encoder's projections are stored (null: f32;
     * int8, 2:4 or both run on the CPU only).
     */
    public record Options(int maxLength, int batch, int workspaces, CompressedLinear.Format weights) {
        public Options {
            if (maxLength != 0 && maxLength < 2) throw new IllegalArgumentException("maxLength must be >= 2 (0: the folder's), is " + maxLength);
            if (batch < 1 || batch > 4096) throw new IllegalArgumentException("batch must be in [1, 4096], is " + batch);
            if (workspaces < 1 || workspaces > LeasePool.MAX) throw new IllegalArgumentException("workspaces must be in [1, " + LeasePool.MAX + "], is " + workspaces);
        }

        /** f32 weights. */
        public Options(int maxLength, int batch, int workspaces) {
            this(maxLength, batch, workspaces, null);
        }

        /** The folder's length, batches of 32, one workspace per available processor, f32 weights. */
        public static Options defaults() {
            return new Options(0, 32, Math.min(LeasePool.MAX, Runtime.getRuntime().availableProcessors()), null);
        }
    }

    /** A text's class: the most probable, its probability, and every class's probability in {@link #classes()}' order. */
    public record Prediction(String label, float probability, float[] probabilities) {}

    private final Backend backend;
    private final BertClassifier model;
    private final List<String> classes;
    private final TextBatches batches;
    private final double weightError;

    private TextClassifier(Backend backend, Path modelFolder, Path adapterFolder, Options o) throws IOException {
        this.backend = java.util.Objects.requireNonNull(backend, "backend");
        Arena arena = Arena.ofShared(); // the model's memory: the batches' to close once open
        TextBatches opened = null;
        try {
            BertAdapter.Loaded loaded = BertAdapter.load(arena, modelFolder, adapterFolder);
            model = loaded.model();
            classes = loaded.classes();
            opened = TextBatches.open("this TextClassifier", backend, modelFolder, o.maxLength(), model.bert().config(), o.batch(), o.workspaces(), arena);
            Lora.fold(model, CpuBackend.get()); // on the host, before any move
            weightError = TextBatches.place(model, model.bert(), backend, arena, o.weights()); // compressed after the fold: the adapter's update is in W'
            opened.refuseBeyondMemory((t, in) -> model.logits(t, in));
        } catch (IOException | RuntimeException e) {
            if (opened != null) opened.close(); // and the arena with it
            else arena.close();
            throw e;
        }
        batches = opened;
    }

    /** The classifier of the encoder in {@code model} with the adapter and head in {@code adapter}, computed by {@code backend}. */
    public static TextClassifier open(Backend backend, Path model, Path adapter, Options o) throws IOException {
        return new TextClassifier(backend, model, adapter, o);
    }

    /** As {@link #open(Backend, Path, Path, Options)} on the CPU with {@link Options#defaults()}. */
    public static TextClassifier open(Path model, Path adapter) throws IOException {
        return open(CpuBackend.get(), model, adapter, Options.defaults());
    }

    /** Each text's prediction, in order. */
    public List<Prediction> classify(List<String> texts) {
        Prediction[] out = new Prediction[texts == null ? 0 : texts.size()];
        int k = classes.size();
        batches.run(texts, (t, step, in, places) -> {
            Tensor logits = model.logits(t, in).value(), probs = t.zeros(logits.shape()); // [batch, classes]
            backend.softmaxForward(logits, probs);
            float[] p = (probs.isHost() ? probs : probs.copy(step, Memory.HOST)).toFloatArray();
            for (int b = 0; b < places.length; b++) {
                float[] row = java.util.Arrays.copyOfRange(p, b * k, (b + 1) * k);
                int best = 0;
                for (int c = 1; c < k; c++) if (row[c] > row[best]) best = c;
                out[places[b]] = new Prediction(classes.get(best), row[best], row);
            }
        });
        return List.of(out);
    }

    /** The class names, in the head's order. */
    public List<String> classes() {
        return classes;
    }

    /** The worst relative error ‖W' − W‖ / ‖W‖ of a projection's stored weights against the folded f32 ones (0 for f32). */
    public double weightError() {
        return weightError;
    }

    /** Tokens kept per text, [CLS] and [SEP] included. */
    public int maxLength() {
        return batches.maxLength();
    }

    /** Refuses new calls, waits for those in flight to finish, then frees the classifier's memory. */
    @Override
    public void close() {
        batches.close();
    }
}
