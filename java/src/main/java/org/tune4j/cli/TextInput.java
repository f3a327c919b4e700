package org.tune4j.cli;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * The texts a command runs on: TEXT arguments, or the lines of --input FILE (a picocli mixin of embed and classify). The
 * file is opened once and read a chunk at a time as the command works, so a corpus larger than memory streams through,
 * and a pipe ({@code --input <(zcat corpus.gz)}) or standard input ({@code --input -}) works as a file does.
 */
final class TextInput {
    @Option(names = "--input", paramLabel = "FILE", description = "A UTF-8 text file, one text per line, blank lines skipped (instead of TEXT arguments); "
            + "- reads standard input.")
    Path input;

    @Parameters(paramLabel = "TEXT", arity = "0..*", description = "Texts.")
    List<String> texts = new ArrayList<>();

    /** The open --input, and its first non-blank line once {@link #check} has read up to it. */
    private BufferedReader reader;
    private String firstLine;

    /** What a command does with a chunk of texts, in order. */
    interface Chunk {
        void accept(List<String> texts) throws IOException;
    }

    /**
     * Refuses, before any work, an unreadable --input or no text at all. It opens the file and reads up to its first
     * non-blank line, which {@link #forEachChunk} then takes from where this left off: a pipe can be read only once.
     */
    void check() throws IOException {
        if (input == null || reader != null) {
            if (texts.isEmpty() && firstLine == null) throw noTexts();
            return;
        }
        reader = open();
        try {
            for (String line; (line = reader.readLine()) != null;) {
                if (!line.isBlank()) {
                    firstLine = line;
                    return;
                }
            }
        } catch (CharacterCodingException e) {
            throw notUtf8();
        }
        if (texts.isEmpty()) throw noTexts();
    }

    /** How many texts there are: the arguments and a regular file's non-blank lines; -1 where --input is a pipe (read once). */
    long count() throws IOException {
        if (input == null) return texts.size();
        if (!Files.isRegularFile(input)) return -1;
        try (var lines = Files.lines(input)) {
            return texts.size() + lines.filter(l -> !l.isBlank()).count();
        } catch (UncheckedIOException e) {
            return -1; // not UTF-8: the stream says so by name when it reaches it
        }
    }

    /** The arguments, then the file's non-blank lines, to {@code each} in chunks of at most {@code size}; none is a usage error. */
    void forEachChunk(int size, Chunk each) throws IOException {
        check();
        List<String> chunk = new ArrayList<>(size);
        for (String t : texts) {
            chunk.add(t);
            if (chunk.size() == size) chunk = pass(chunk, each);
        }
        if (reader != null) {
            try (BufferedReader in = reader) {
                for (String line = firstLine; line != null; line = in.readLine()) {
                    if (line.isBlank()) continue;
                    chunk.add(line);
                    if (chunk.size() == size) chunk = pass(chunk, each);
                }
            } catch (CharacterCodingException e) {
                throw notUtf8(); // no line number: the reader decodes ahead of the lines it hands out
            } finally {
                reader = null;
                firstLine = null;
            }
        }
        if (!chunk.isEmpty()) each.accept(chunk);
    }

    private BufferedReader open() throws IOException {
        if (input.toString().equals("-")) return new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8.newDecoder()));
        if (Files.isDirectory(input)) throw new IllegalArgumentException("--input " + input + ": a directory; give a text file");
        if (!Files.exists(input)) throw new IllegalArgumentException("--input " + input + ": no such file");
        try {
            return Files.newBufferedReader(input);
        } catch (IOException | UncheckedIOException e) {
            throw new IllegalArgumentException("--input " + input + ": cannot read it (" + e.getMessage() + ")");
        }
    }

    private static List<String> pass(List<String> chunk, Chunk each) throws IOException {
        each.accept(chunk);
        return new ArrayList<>(chunk.size());
    }

    private static IllegalArgumentException noTexts() {
        return new IllegalArgumentException("no texts: give TEXT arguments or --input FILE");
    }

    private IllegalArgumentException notUtf8() {
        return new IllegalArgumentException("--input " + input + ": not UTF-8 text");
    }
}
