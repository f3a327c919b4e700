package org.tune4j.bench;

import org.tune4j.cli.CliExtension;

/** Adds {@code tune4j bench} to the command line. */
public final class BenchCliExtension implements CliExtension {
    @Override
    public Object command() {
        return new BenchCommand();
    }
}
