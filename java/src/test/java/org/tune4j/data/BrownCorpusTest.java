package org.tune4j.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The Brown corpus as genre-labelled passages. */
class BrownCorpusTest {
    @Test
    void tagsAreTakenOffAndQuotesRestored() {
        assertEquals(List.of("The", "Fulton", "County", "said", "\"", "no", "evidence", "\"", "."),
                BrownCorpus.words("\n\n\tThe/at Fulton/np-tl County/nn-tl said/vbd ``/`` no/at evidence/nn ''/'' ./.\n"));
        assertEquals(List.of("and/or"), BrownCorpus.words("and/or/cc"), "the tag is after the last slash");
    }

    @Test
    void everyGenreHasPassagesOfSixtyWords() throws IOException {
        Path cache = TextDataCache.requireOrSkip(NpmPackage.BROWN);
        TextDataset d = BrownCorpus.load(cache);
        assertEquals(15, d.classes().size());
        for (int c : d.counts()) assertTrue(c >= 100, "a genre with " + c + " passages");
        assertTrue(d.size() > 15000 && d.size() < 20000, d.size() + " passages of the corpus's ~1.16 M words");
        assertTrue(d.texts().stream().allMatch(t -> t.split(" ").length == 60));
    }
}
