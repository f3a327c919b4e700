package org.tune4j.data;

import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/** A folder of labelled texts: one subfolder per class (its name the class's), one UTF-8 file per text. */
public final class TextFolder {
    private TextFolder() {}

    public static TextDataset load(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) throw new IOException(dir + ": not a folder (give one subfolder per class, one text file per text)");
        List<Path> classDirs;
        try (Stream<Path> s = Files.list(dir)) {
            classDirs = s.filter(Files::isDirectory).sorted().toList();
        }
        if (classDirs.size() < 2) throw new IOException(dir + ": " + classDirs.size() + " class subfolders, a classifier needs at least 2");
        List<String> classes = new ArrayList<>(), texts = new ArrayList<>();
        List<Integer> labels = new ArrayList<>();
        for (Path c : classDirs) {
            classes.add(c.getFileName().toString());
            List<Path> files;
            try (Stream<Path> s = Files.list(c)) {
                files = s.filter(Files::isRegularFile).sorted().toList();
            }
            if (files.isEmpty()) throw new IOException(c + ": no text files");
            for (Path f : files) {
                String t;
                try {
                    t = Files.readString(f).strip();
                } catch (CharacterCodingException e) {
                    throw new IOException(f + ": not UTF-8 text", e);
                }
                if (t.isEmpty()) throw new IOException(f + ": empty");
                texts.add(t);
                labels.add(classes.size() - 1);
            }
        }
        return new TextDataset(dir.getFileName().toString(), texts, labels.stream().mapToInt(Integer::intValue).toArray(), classes);
    }
}
