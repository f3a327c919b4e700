package org.tune4j.cli;

import java.io.IOException;
import java.nio.file.Path;
import org.tune4j.data.FashionMnist;
import org.tune4j.io.ModelFile;
import picocli.CommandLine.Option;

/** Where the Fashion-MNIST data and the starting ViT come from; shared by the training commands (a picocli mixin). */
final class DataOptions {
    @Option(names = "--data", paramLabel = "DIR", description = "Fashion-MNIST directory (default: Debian's package, else the subset in the jar).")
    Path data;

    @Option(names = "--embedded", description = "Use the subset shipped in the jar even when the full set is installed.")
    boolean embedded;

    @Option(names = "--checkpoint", paramLabel = "FILE", description = "Pretrained ViT (default: the one shipped in the jar).")
    Path checkpoint;

    /** The paths given exist. */
    void check() {
        if (data != null && !java.nio.file.Files.isDirectory(data)) throw new IllegalArgumentException("--data " + data + ": no such directory");
        OptionChecks.readableFile("--checkpoint", checkpoint);
    }

    /**
     * Refuses a LoRA rank above the starting ViT's width (its smallest adapted layer is dim x dim), before
     * any training: reading the checkpoint costs a fraction of a second, the refusal after the baseline
     * evaluation would cost a minute.
     */
    void checkRank(String option, int rank) throws IOException {
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
            int dim = org.tune4j.io.ModelFile.load(arena, checkpoint).config().dim();
            if (rank > dim) throw new IllegalArgumentException(option + " " + rank + " exceeds the model's width " + dim + ": a LoRA update of its layers is at most of rank " + dim);
        }
    }

    FashionMnist.Source source() throws IOException {
        return embedded ? FashionMnist.embedded() : FashionMnist.load(data);
    }
}
