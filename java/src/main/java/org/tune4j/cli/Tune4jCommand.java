package org.tune4j.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** The top-level command: prints usage when given no subcommand. */
@Command(name = "tune4j", mixinStandardHelpOptions = true, version = "tune4j 0.1.0",
        description = "Fine-tuning and compression engine for the JVM: native kernels (AVX-512, AVX2, CUDA) "
                + "under a Java tape; LoRA and its variants, robustness measures, pruning, int8.%n%n"
                + "  ./tune4j finetune --model minilm --task spam%n"
                + "      LoRA on a real BERT against full fine-tuning, head only and a probe%n"
                + "  ./tune4j import --model minilm --out DIR; ./tune4j embed --model DIR TEXT...%n"
                + "  ./tune4j serve DIR --adapters DIR   many LoRA adapters over one base (HTTP)%n"
                + "  ./tune4j demo    LoRA, full and head-only adaptation of a ViT, robustness%n"
                + "  ./mvnw verify    the tests (kernels/emulator/run.sh: the GPU path on the CPU)%n%n"
                + "Exit codes: 0 done, 1 a gate or drift verdict, 2 bad input or usage, 3 an internal error.")
final class Tune4jCommand implements Runnable {
    @Spec
    CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }
}
