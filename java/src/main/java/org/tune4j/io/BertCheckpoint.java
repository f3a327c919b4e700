package org.tune4j.io;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeSet;
import org.tune4j.autograd.Parameter;
import org.tune4j.nn.BertModel;
import org.tune4j.tensor.Tensor;

/** A BERT encoder built from a Hugging Face checkpoint folder ({@link HfCheckpoint}), and written back to one. */
public final class BertCheckpoint {
    private BertCheckpoint() {}

    /**
     * The encoder in {@code dir}, its parameters in {@code arena}: every parameter must be in the checkpoint
     * with its exact shape, and a tensor the encoder does not use is an error unless it is a buffer, the
     * pooler or a task head ({@link HfCheckpoint#unusedByEncoder}).
     */
    public static BertModel load(Arena arena, Path dir) throws IOException {
        try (HfCheckpoint ckpt = HfCheckpoint.read(dir)) {
            BertModel model = new BertModel(arena, ckpt.bertConfig(), new SplittableRandom(0));
            Map<String, Parameter> params = model.namedParameters();
            TreeSet<String> missing = new TreeSet<>(params.keySet());
            missing.removeAll(ckpt.tensors().keySet());
            if (!missing.isEmpty()) throw new IOException(dir + ": " + missing.size() + " parameters missing, " + HfCheckpoint.list(missing.iterator(), 5));
            TreeSet<String> unused = new TreeSet<>();
            for (String name : ckpt.tensors().keySet()) if (!params.containsKey(name) && !HfCheckpoint.unusedByEncoder(name)) unused.add(name);
            if (!unused.isEmpty()) throw new IOException(dir + ": tensors a BERT encoder does not have: " + HfCheckpoint.list(unused.iterator(), 5));
            for (Map.Entry<String, Parameter> e : params.entrySet()) Checkpoint.copy(dir, e.getKey(), ckpt.tensors().get(e.getKey()), e.getValue().value());
            return model;
        }
    }

    /** Writes {@code model} as a Hugging Face checkpoint folder, with the tokenizer files of {@code tokenizerDir} (or none). */
    public static void save(Path dir, BertModel model, Path tokenizerDir) throws IOException {
        Map<String, Tensor> values = new java.util.LinkedHashMap<>();
        model.namedParameters().forEach((name, p) -> values.put(name, p.value()));
        HfCheckpoint.write(dir, HfCheckpoint.bertConfigJson(model.config()), ModelFile.mergedNames(model, values), tokenizerDir);
    }
}
