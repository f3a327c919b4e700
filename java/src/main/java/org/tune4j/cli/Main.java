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
        cl.addSubcommand(new TuneCommand());
        cl.addSubcommand(new PretrainCommand());
        cl.addSubcommand(new DemoCommand());
        cl.addSubcommand(new EvalCommand());
        cl.addSubcommand(new GateCommand());
        cl.addSubcommand(new ReportCommand());
        cl.addSubcommand(new DriftCommand());
        cl.addSubcommand(new RobustCommand());
        cl.addSubcommand(new ImportCommand());
        cl.addSubcommand(new EmbedCommand());
        cl.addSubcommand(new MergeCommand());
        cl.addSubcommand(new FinetuneCommand());
        cl.addSubcommand(new RobustTextCommand());
        cl.addSubcommand(new ClassifyCommand());
        cl.addSubcommand(new ServeCommand());
        for (CliExtension ext : ServiceLoader.load(CliExtension.class)) cl.addSubcommand(ext.command());
        // Exit codes mean one thing each: 0 done, 1 the gate's or drift's verdict, 2 bad input or usage
        // (said in one line, naming it), 3 an internal error (with its stack trace: a bug to report).
        cl.setParameterExceptionHandler((e, args) -> {
            CommandLine line = e.getCommandLine();
            line.getErr().println("tune4j " + line.getCommandName() + ": " + e.getMessage() + " (see tune4j " + line.getCommandName() + " --help)");
            return EXIT_USAGE;
        });
        cl.setExecutionExceptionHandler((e, line, parsed) -> {
            String where = "tune4j " + line.getCommandName() + ": ";
            if (isBadInput(e)) {
                line.getErr().println(where + describe(e));
                return EXIT_USAGE;
            }
            line.getErr().println(where + "internal error, please report it: " + e);
            e.printStackTrace(line.getErr());
            return EXIT_INTERNAL;
        });
        return cl;
    }

    /** The JDK logging's format, which its {@code SimpleFormatter} reads once, when it first formats a record. */
    static final String JUL_FORMAT = "java.util.logging.SimpleFormatter.format";

    /**
     * Helidon (tune4j serve) logs through java.util.logging, whose default format takes two lines a record, the first
     * a date. This gives its records one line each, as slf4j-simple writes the library's ("INFO
     * io.helidon.webserver.LoomServer - Started ..."), unless JAVA_OPTS sets a format. It runs before anything logs.
     */
    static void oneLineJulRecords() {
        if (System.getProperty(JUL_FORMAT) == null) System.setProperty(JUL_FORMAT, "%4$s %3$s - %5$s%6$s%n");
    }

    /** Exit code of bad input or usage. */
    public static final int EXIT_USAGE = 2;
    /** Exit code of an internal error. */
    public static final int EXIT_INTERNAL = 3;

    /** A user's mistake: a wrong value, a missing, unreadable or corrupt file. */
    private static boolean isBadInput(Throwable e) {
        return e instanceof IllegalArgumentException || e instanceof java.io.IOException || e instanceof java.io.UncheckedIOException;
    }

    /** One line; the JDK's file exceptions carry only the path as their message. */
    private static String describe(Throwable e) {
        // unwrapped unless it says more than its cause (the JDK's wrapping gives the cause's own text)
        if (e instanceof java.io.UncheckedIOException u && u.getMessage().equals(u.getCause().toString())) e = u.getCause();
        return switch (e) {
            case java.nio.file.NoSuchFileException f -> "no such file: " + f.getFile();
            case java.nio.file.AccessDeniedException f -> "permission denied: " + f.getFile();
            case java.nio.file.FileAlreadyExistsException f -> "already exists: " + f.getFile();
            case java.nio.file.NotDirectoryException f -> "not a directory: " + f.getFile();
            default -> e.getMessage() != null ? e.getMessage().lines().findFirst().orElse("") : e.getClass().getSimpleName();
        };
    }

    public static void main(String[] args) {
        oneLineJulRecords();
        int code;
        try {
            code = commandLine().execute(args);
        } catch (OutOfMemoryError e) { // an Error passes picocli's handlers
            System.err.println("tune4j: out of memory (" + e.getMessage() + "): ask for less, or give the JVM more with JAVA_OPTS=-Xmx...");
            code = EXIT_INTERNAL;
        } catch (LinkageError e) { // a class that could not initialize (the native library not loaded): an Error passes them too
            Throwable cause = e instanceof ExceptionInInitializerError && e.getCause() != null ? e.getCause() : e;
            boolean badInput = isBadInput(cause);
            if (badInput || cause instanceof UnsatisfiedLinkError) {
                System.err.println("tune4j: " + describe(cause));
                code = badInput ? EXIT_USAGE : EXIT_INTERNAL;
            } else {
                System.err.println("tune4j: internal error, please report it: " + cause);
                e.printStackTrace();
                code = EXIT_INTERNAL;
            }
        }
        System.exit(code);
    }
}
