package org.tune4j.data;

import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * A folder of labelled texts: one subfolder per class (its name the class's), one UTF-8 file per text. Texts are
 * deduplicated before anything is split, as the spam corpus is: a copy in the test split of a text in the training
 * split would be counted as generalisation. Texts are copies when they are the same after runs of white space are
 * made one space (the tokenizer sees no difference); a text whose copies sit in different classes is dropped whole, its
 * label being unknowable.
 */
public final class TextFolder {
    private TextFolder() {}

    /** The deduplicated texts, of {@code files} read; dropped: {@code copies}, files copying a kept text, and {@code conflicting}, files whose text sits in several classes. */
    public record Loaded(TextDataset data, int files, int copies, int conflicting) {}

    public static Loaded load(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) throw new IOException(dir + ": not a folder (give one subfolder per class, one text file per text)");
        List<Path> classDirs;
        try (Stream<Path> s = Files.list(dir)) {
            classDirs = s.filter(Files::isDirectory).sorted().toList();
        }
        if (classDirs.size() < 2) throw new IOException(dir + ": " + classDirs.size() + " class subfolders, a classifier needs at least 2");
        List<String> classes = new ArrayList<>();
        Map<String, Text> byKey = new LinkedHashMap<>(); // in the order the first copy was read
        int files = 0;
        for (Path c : classDirs) {
            classes.add(c.getFileName().toString());
            List<Path> paths;
            try (Stream<Path> s = Files.list(c)) {
                paths = s.filter(Files::isRegularFile).sorted().toList();
            }
            if (paths.isEmpty()) throw new IOException(c + ": no text files");
            for (Path f : paths) {
                String t;
                try {
                    t = Files.readString(f).strip();
                } catch (CharacterCodingException e) {
                    throw new IOException(f + ": not UTF-8 text", e);
                }
                if (t.isEmpty()) throw new IOException(f + ": empty");
                files++;
                int label = classes.size() - 1;
                byKey.merge(t.replaceAll("\\s+", " "), new Text(t, label, 1, false), (kept, copy) -> new Text(kept.text, kept.label, kept.copies + 1, kept.conflict || kept.label != label));
            }
        }
        List<String> texts = new ArrayList<>();
        List<Integer> labels = new ArrayList<>();
        int copies = 0, conflicting = 0;
        for (Text t : byKey.values()) {
            if (t.conflict) {
                conflicting += t.copies;
                continue;
            }
            copies += t.copies - 1;
            texts.add(t.text);
            labels.add(t.label);
        }
        for (int c = 0; c < classes.size(); c++) {
            if (!labels.contains(c)) throw new IOException(classDirs.get(c) + ": every text in it is also in another class");
        }
        TextDataset data = new TextDataset(dir.getFileName().toString(), texts, labels.stream().mapToInt(Integer::intValue).toArray(), classes);
        return new Loaded(data, files, copies, conflicting);
    }

    /** A distinct text: its first copy, its class, how many files hold it, and whether some sit in another class. */
    private record Text(String text, int label, int copies, boolean conflict) {}
}
