package org.tune4j.cli;

import java.util.ServiceLoader;
import picocli.CommandLine;

/** Entry point of the {@code tune4j} command. */
public final class Main {
    private Main() {}

    /** The command line with every subcommand, core and contributed. */
    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new Tune4jCommand());
        cl.addSubcommand(new InfoCommand());
        cl.addSubcommand(new PretrainCommand());
        cl.addSubcommand(new DemoCommand());
        cl.addSubcommand(new EvalCommand());
        cl.addSubcommand(new GateCommand());
        cl.addSubcommand(new ReportCommand());
        cl.addSubcommand(new DriftCommand());
        cl.addSubcommand(new RobustCommand());
        for (CliExtension ext : ServiceLoader.load(CliExtension.class)) cl.addSubcommand(ext.command());
        // Bad input (a wrong option value, a missing or corrupt file) is the user's to fix: say what is
        // wrong in one line; anything else keeps its stack trace.
        cl.setExecutionExceptionHandler((e, line, parsed) -> {
            if (!(e instanceof IllegalArgumentException || e instanceof java.io.IOException)) throw e;
            line.getErr().println("tune4j " + line.getCommandName() + ": " + e.getMessage());
            return 2;
        });
        return cl;
    }

    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }
}
