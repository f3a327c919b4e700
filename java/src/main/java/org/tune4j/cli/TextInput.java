package org.tune4j.cli;

import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * The texts a command runs on: TEXT arguments, or the lines of --input FILE (a picocli mixin of embed and classify). The
 * file is read a chunk at a time as the command works, so a corpus larger than memory streams through.
 */
final class TextInput {
    @Option(names = "--input", paramLabel = "FILE", description = "A UTF-8 text file, one text per line, blank lines skipped (instead of TEXT arguments).")
    Path input;

    @Parameters(paramLabel = "TEXT", arity = "0..*", description = "Texts.")
    List<String> texts = new ArrayList<>();

    /** What a command does with a chunk of texts, in order. */
    interface Chunk {
        void accept(List<String> texts) throws IOException;
    }

    /** Refuses, before any work, an unreadable --input or no text at all (the file read up to its first non-blank line). */
    void check() throws IOException {
        OptionChecks.readableFile("--input", input);
        if (!texts.isEmpty()) return;
        if (input != null) {
            try (BufferedReader in = Files.newBufferedReader(input)) {
                for (String line; (line = in.readLine()) != null;) if (!line.isBlank()) return;
            } catch (CharacterCodingException e) {
                throw notUtf8();
            }
        }
        throw new IllegalArgumentException("no texts: give TEXT arguments or --input FILE");
    }

    /** The arguments, then the file's non-blank lines, to {@code each} in chunks of at most {@code size}; none is a usage error. */
    void forEachChunk(int size, Chunk each) throws IOException {
        check();
        List<String> chunk = new ArrayList<>(size);
        for (String t : texts) {
            chunk.add(t);
            if (chunk.size() == size) chunk = pass(chunk, each);
        }
        if (input != null) {
            try (BufferedReader in = Files.newBufferedReader(input)) {
                for (String line; (line = in.readLine()) != null;) {
                    if (line.isBlank()) continue;
                    chunk.add(line);
                    if (chunk.size() == size) chunk = pass(chunk, each);
                }
            } catch (CharacterCodingException e) {
                throw notUtf8(); // no line number: the reader decodes ahead of the lines it hands out
            }
        }
        if (!chunk.isEmpty()) each.accept(chunk);
    }

    private static List<String> pass(List<String> chunk, Chunk each) throws IOException {
        each.accept(chunk);
        return new ArrayList<>(chunk.size());
    }

    private IllegalArgumentException notUtf8() {
        return new IllegalArgumentException("--input " + input + ": not UTF-8 text");
    }
}
