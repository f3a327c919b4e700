package org.tune4j.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** The top-level command: prints usage when given no subcommand. */
@Command(name = "tune4j", mixinStandardHelpOptions = true, version = "tune4j 0.1.0",
        description = "Fine-tuning and compression engine for the JVM.%n"
                + "The main job is `tune4j demo`: LoRA vs full vs head-only adaptation of a pretrained ViT to shifted data.")
final class Tune4jCommand implements Runnable {
    @Spec
    CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }
}
