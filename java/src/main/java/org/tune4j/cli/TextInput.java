package org.tune4j.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** The texts a command runs on: TEXT arguments, or the lines of --input FILE (a picocli mixin of embed and classify). */
final class TextInput {
    @Option(names = "--input", paramLabel = "FILE", description = "A text file, one text per line (instead of TEXT arguments).")
    Path input;

    @Parameters(paramLabel = "TEXT", arity = "0..*", description = "Texts.")
    List<String> texts = new ArrayList<>();

    /** The arguments, then the file's non-blank lines; none is a usage error. */
    List<String> read() throws IOException {
        OptionChecks.readableFile("--input", input);
        List<String> all = new ArrayList<>(texts);
        if (input != null) for (String line : Files.readAllLines(input)) if (!line.isBlank()) all.add(line);
        if (all.isEmpty()) throw new IllegalArgumentException("no texts: give TEXT arguments or --input FILE");
        return all;
    }
}
