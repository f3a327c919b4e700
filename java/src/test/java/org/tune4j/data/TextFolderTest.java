package org.tune4j.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link TextFolder}: a folder's texts with their classes, deduplicated before any split (copies up to white space kept
 * once; a text in two classes dropped whole), and a folder that cannot make a classifier refused by name.
 */
class TextFolderTest {
    @TempDir
    Path dir;

    private void write(String file, String text) throws IOException {
        Path f = dir.resolve(file);
        Files.createDirectories(f.getParent());
        Files.writeString(f, text);
    }

    @Test
    void copiesAreKeptOnceAndTextsInTwoClassesAreDropped() throws IOException {
        write("ham/1.txt", "the meeting is at ten");
        write("ham/2.txt", "the  meeting is\nat ten\n"); // a copy but for white space
        write("ham/3.txt", "lunch on friday");
        write("spam/1.txt", "win money now");
        write("spam/2.txt", "lunch on friday"); // also in ham: its class is unknowable
        write("spam/3.txt", "cheap offer");
        TextFolder.Loaded l = TextFolder.load(dir);
        assertEquals(6, l.files());
        assertEquals(1, l.copies());
        assertEquals(2, l.conflicting());
        assertEquals(List.of("ham", "spam"), l.data().classes());
        assertEquals(List.of("the meeting is at ten", "win money now", "cheap offer"), l.data().texts());
        assertEquals(List.of(0, 1, 1), java.util.Arrays.stream(l.data().labels()).boxed().toList());
    }

    @Test
    void aFolderThatMakesNoClassifierIsRefusedByName() throws IOException {
        assertTrue(assertThrows(IOException.class, () -> TextFolder.load(dir.resolve("none"))).getMessage().contains("not a folder"));
        write("only/1.txt", "one class");
        assertTrue(assertThrows(IOException.class, () -> TextFolder.load(dir)).getMessage().contains("1 class subfolders"));
        write("other/1.txt", "one class");
        IOException same = assertThrows(IOException.class, () -> TextFolder.load(dir));
        assertTrue(same.getMessage().contains("every text in it is also in another class"), same.getMessage());
        write("other/2.txt", "   ");
        assertTrue(assertThrows(IOException.class, () -> TextFolder.load(dir)).getMessage().contains("2.txt: empty"));
        Files.write(dir.resolve("other/2.txt"), new byte[] {(byte) 0xff, (byte) 0xfe, 0x41});
        assertTrue(assertThrows(IOException.class, () -> TextFolder.load(dir)).getMessage().contains("2.txt: not UTF-8 text"));
    }
}
