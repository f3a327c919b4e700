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

    /** The model's folder, importing a known model on first use (a note on stderr: it takes seconds). */
    Path folder() throws IOException {
        PretrainedModels.Known known = PretrainedModels.Known.of(model);
        Path dir = known != null ? Path.of(System.getProperty("user.home"), ".cache", "tune4j", "models", known.name) : Path.of(model);
        if (known != null && !Files.isRegularFile(dir.resolve(HfCheckpoint.WEIGHTS))) {
            System.err.println("importing " + known.name + " into " + dir + " ...");
            PretrainedModels.importKnown(known, known.localJar(), dir);
        }
        return dir;
    }

    /** How the model's sentence vector is pooled: the known model's own way; for a folder, its modules.json's (mean without one). */
    BertClassifier.Pooling pooling() throws IOException {
        PretrainedModels.Known known = PretrainedModels.Known.of(model);
        return known != null ? BertClassifier.Pooling.valueOf(known.pooling) : SentencePipeline.readOrDefault(Path.of(model)).pooling();
    }
}
