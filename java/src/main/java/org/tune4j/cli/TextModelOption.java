package org.tune4j.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.tune4j.io.HfCheckpoint;
import org.tune4j.io.PretrainedModels;
import org.tune4j.io.SentencePipeline;
import org.tune4j.nn.BertClassifier;
import picocli.CommandLine.Option;

/** The pretrained BERT a text command starts from: a known name (imported once into ~/.cache/tune4j/models) or a Hugging Face folder (a picocli mixin). */
final class TextModelOption {
    @Option(names = "--model", defaultValue = "minilm", paramLabel = "NAME|DIR",
            description = "minilm (all-MiniLM-L6-v2, mean pooling) or bge-small (BGE-small-en-v1.5, CLS pooling), imported once into ~/.cache/tune4j/models; "
                    + "or a Hugging Face folder (pooled as its sentence-transformers modules.json says, mean without one) (default: ${DEFAULT-VALUE}).")
    String model;

    /** The model's folder, importing a known model on first use ({@link #folderOf}). */
    Path folder() throws IOException {
        return folderOf(model);
    }

    /**
     * NAME|DIR as a folder: a known name's folder in ~/.cache/tune4j/models, imported on first use (a note on stderr: it
     * takes seconds), its sentence-transformers modules written where a tune4j before them imported it without (else a
     * BGE would be mean-pooled); anything else the folder as given.
     */
    static Path folderOf(String model) throws IOException {
        PretrainedModels.Known known = PretrainedModels.Known.of(model);
        if (known == null) return Path.of(model);
        Path dir = Path.of(System.getProperty("user.home"), ".cache", "tune4j", "models", known.name);
        if (!imported(dir)) {
            System.err.println("importing " + known.name + " into " + dir + " ...");
            importWhole(known, dir);
        } else if (!Files.isRegularFile(dir.resolve(SentencePipeline.MODULES))) {
            int hidden = new com.fasterxml.jackson.databind.ObjectMapper().readTree(dir.resolve(HfCheckpoint.CONFIG).toFile()).path("hidden_size").asInt();
            known.pipeline().write(dir, hidden);
            System.err.println(dir + ": imported without its sentence-transformers modules; wrote them (" + known.pooling.toLowerCase(java.util.Locale.ROOT)
                    + " pooling, unit length, " + known.maxLength + " tokens)");
        }
        return dir;
    }

    /**
     * Imports {@code known} into a folder of this command's own beside {@code dir}, then renames it to {@code dir} at once:
     * a folder there is always a whole import, whether another command imports the same model at the same time (the
     * first rename wins; the other's copy is dropped) or this one is stopped half-way. A folder there that lacks part of
     * an import (an older tune4j's, stopped) is replaced.
     */
    private static void importWhole(PretrainedModels.Known known, Path dir) throws IOException {
        Path work = Files.createTempDirectory(Files.createDirectories(dir.getParent()), known.name + ".importing-");
        try {
            PretrainedModels.importKnown(known, known.localJar(), work);
            if (Files.isDirectory(dir) && !imported(dir)) org.tune4j.io.Folders.deleteTree(dir);
            try {
                Files.move(work, dir, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            } catch (IOException e) {
                if (!imported(dir)) throw e; // else another command's import got there first
            }
        } finally {
            org.tune4j.io.Folders.deleteTree(work);
        }
    }

    /** Whether {@code dir} holds what an import writes first (its sentence-transformers modules may be missing: an older tune4j's). */
    private static boolean imported(Path dir) {
        return Files.isRegularFile(dir.resolve(HfCheckpoint.CONFIG)) && Files.isRegularFile(dir.resolve(HfCheckpoint.WEIGHTS))
                && Files.isRegularFile(dir.resolve(HfCheckpoint.TOKENIZER));
    }

    /**
     * The encoder an adapter was trained on, where no --model says it: the folder its adapter_config.json names
     * (base_model_name_or_path, as tune4j finetune writes it), or a known model it names by name or Hub id.
     */
    static Path baseOf(Path adapter) throws IOException {
        String base = org.tune4j.io.PeftAdapter.baseModel(adapter);
        PretrainedModels.Known known = PretrainedModels.Known.of(base);
        if (known != null) return folderOf(known.name);
        if (!base.isEmpty() && Files.isDirectory(Path.of(base))) return Path.of(base);
        throw new IllegalArgumentException("--model: not given, and the adapter's base model ('" + base + "', " + org.tune4j.io.PeftAdapter.CONFIG_FILE
                + ") is neither a folder here nor minilm or bge-small: give --model");
    }

    /** {@link #folderOf} as a picocli converter, for the commands whose model option takes NAME|DIR. */
    static final class Folder implements picocli.CommandLine.ITypeConverter<Path> {
        @Override
        public Path convert(String value) throws IOException {
            return folderOf(value);
        }
    }

    /** How the model's sentence vector is pooled: the known model's own way; for a folder, its modules.json's (mean without one). */
    BertClassifier.Pooling pooling() throws IOException {
        PretrainedModels.Known known = PretrainedModels.Known.of(model);
        return known != null ? BertClassifier.Pooling.valueOf(known.pooling) : SentencePipeline.readOrDefault(Path.of(model)).pooling();
    }
}
