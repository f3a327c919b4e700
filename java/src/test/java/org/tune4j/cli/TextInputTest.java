package org.tune4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link TextInput}: the arguments, then the file's non-blank lines, in chunks of the size asked, in order; bad input by name. */
class TextInputTest {
    @TempDir
    Path dir;

    @Test
    void argumentsThenTheFilesLinesInChunks() throws IOException {
        Path file = Files.writeString(dir.resolve("texts.txt"), "c\n\n  \nd\ne\nf\ng\n");
        TextInput in = input(file, "a", "b");
        assertEquals(7, in.count()); // for the progress bar: the arguments and the file's non-blank lines
        assertEquals(-1, input(Path.of("-")).count()); // standard input: not known before it is read
        List<List<String>> chunks = new ArrayList<>();
        in.forEachChunk(3, part -> chunks.add(List.copyOf(part)));
        assertEquals(List.of(List.of("a", "b", "c"), List.of("d", "e", "f"), List.of("g")), chunks);
    }

    @Test
    void noTextOrNotUtf8IsRefusedByName() throws IOException {
        Path blank = Files.writeString(dir.resolve("blank.txt"), "\n \n\t\n");
        IllegalArgumentException none = assertThrows(IllegalArgumentException.class, () -> input(blank).check());
        assertTrue(none.getMessage().startsWith("no texts"), none.getMessage());
        assertThrows(IllegalArgumentException.class, () -> input(null).check());
        Path latin1 = Files.write(dir.resolve("latin1.txt"), new byte[] {'o', 'k', '\n', 'c', 'a', 'f', (byte) 0xE9, '\n'});
        IllegalArgumentException bad = assertThrows(IllegalArgumentException.class, () -> input(latin1).forEachChunk(8, part -> {}));
        assertTrue(bad.getMessage().contains("latin1.txt: not UTF-8 text"), bad.getMessage());
        IllegalArgumentException missing = assertThrows(IllegalArgumentException.class, () -> input(dir.resolve("none.txt")).check());
        assertTrue(missing.getMessage().contains("no such file"), missing.getMessage());
        IllegalArgumentException folder = assertThrows(IllegalArgumentException.class, () -> input(dir).check());
        assertTrue(folder.getMessage().contains("a directory"), folder.getMessage());
    }

    /** Standard input (and so a pipe) is read once: check's look for a first text is not read again, nor lost. */
    @Test
    void standardInputIsReadOnceFromCheckToTheLastChunk() throws IOException {
        InputStream stdin = System.in;
        try {
            System.setIn(new ByteArrayInputStream("\n  \nfirst\nsecond\n\nthird".getBytes(StandardCharsets.UTF_8)));
            TextInput in = input(Path.of("-"), "arg");
            in.check();
            List<String> all = new ArrayList<>();
            in.forEachChunk(2, all::addAll);
            assertEquals(List.of("arg", "first", "second", "third"), all);
            System.setIn(new ByteArrayInputStream("\n \n".getBytes(StandardCharsets.UTF_8)));
            IllegalArgumentException none = assertThrows(IllegalArgumentException.class, () -> input(Path.of("-")).check());
            assertTrue(none.getMessage().startsWith("no texts"), none.getMessage());
        } finally {
            System.setIn(stdin);
        }
    }

    private static TextInput input(Path file, String... texts) {
        TextInput in = new TextInput();
        in.input = file;
        in.texts = new ArrayList<>(List.of(texts));
        return in;
    }
}
