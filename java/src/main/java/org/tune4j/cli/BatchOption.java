package org.tune4j.cli;

import picocli.CommandLine.Option;

/** {@code --batch N} on the commands that run a BERT over a stream of texts (a picocli mixin of embed and classify): texts per forward pass. */
final class BatchOption {
    @Option(names = "--batch", defaultValue = "32", paramLabel = "N", description = "Texts per forward pass (default: ${DEFAULT-VALUE}).")
    int texts;

    /** N, refused outside [1, 4096]. */
    int texts() {
        OptionChecks.atLeast("--batch", texts, 1);
        OptionChecks.atMost("--batch", texts, 4096);
        return texts;
    }
}
