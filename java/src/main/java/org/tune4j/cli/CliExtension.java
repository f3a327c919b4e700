package org.tune4j.cli;

/**
 * A subcommand contributed by another module (found with {@link java.util.ServiceLoader}): the bench
 * module adds {@code tune4j bench} this way, so the core does not depend on benchmark code.
 */
public interface CliExtension {
    /** A picocli command object (annotated with {@code @Command}). */
    Object command();
}
