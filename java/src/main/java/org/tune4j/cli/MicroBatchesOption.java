package org.tune4j.cli;

import picocli.CommandLine.Option;

/** {@code --micro-batches N} on every command that trains (a picocli mixin): each batch as N parts (autograd.MicroBatches). */
final class MicroBatchesOption {
    @Option(names = "--micro-batches", paramLabel = "N", defaultValue = "1",
            description = "Each training batch as N micro-batches, their gradients summed in order (the bits depend on N, not on the threads); "
                    + "on a CPU with no more threads than N they run at once, a thread each (on 2 cores: a MiniLM step of 16 x 128 tokens 5-7%% faster "
                    + "on 2 than on 1, the ViT's step of 128 images 4-15%%) (default: ${DEFAULT-VALUE}).")
    int parts;

    /** N, refused unless in [1, batch]. */
    int parts(int batch) {
        OptionChecks.atLeast("--micro-batches", parts, 1);
        OptionChecks.atMost("--micro-batches", parts, batch);
        return parts;
    }
}
