package org.tune4j.robust;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

class TextEvasionTest {
    /** A keyword filter: spam while the exact words "free" or "offer" appear (each adds 0.4 to a base of 0.2). */
    static final Function<List<String>, float[][]> FILTER = texts -> texts.stream().map(t -> {
        double p = 0.2;
        for (String w : t.split(" ")) if (w.equals("free") || w.equals("offer")) p += 0.4;
        float s = (float) Math.min(0.99, p);
        return new float[] {1 - s, s};
    }).toArray(float[][]::new);

    @Test
    void theAttackEditsTheWordsThatMatterUntilThePredictionFlips() {
        List<String> texts = List.of("get your free gift now", "a free offer for you today", "hello how are you");
        List<TextEvasion.Attack> a = TextEvasion.attack(texts, new int[] {1, 1, 1}, FILTER, new TextEvasion.Options(3, 64));
        assertEquals(1, a.get(0).editsToFlip(), a.get(0).toString());
        assertFalse(a.get(0).edited().contains("free"));
        assertEquals(2, a.get(1).editsToFlip(), "both keywords must go: " + a.get(1));
        assertFalse(a.get(2).attacked(), "the filter already calls it ham");
        assertEquals(0.5, TextEvasion.successRate(a, 1), 1e-12);
        assertEquals(1.0, TextEvasion.successRate(a, 3), 1e-12);
        List<TextEvasion.Attack> tight = TextEvasion.attack(texts.subList(1, 2), new int[] {1}, FILTER, new TextEvasion.Options(1, 64));
        assertEquals(0, tight.get(0).editsToFlip(), "one edit is not enough");
        assertEquals(0.0, TextEvasion.successRate(tight, 1), 1e-12);
    }

    @Test
    void textsAttackedTogetherEndAsEachAttackedAloneInOneCallPerEdit() {
        List<String> texts = List.of("get your free gift now", "a free offer for you today", "hello how are you", "free free offer offer", "an offer");
        int[] labels = {1, 1, 1, 1, 0};
        int[] calls = {0};
        Function<List<String>, float[][]> counted = t -> {
            calls[0]++;
            return FILTER.apply(t);
        };
        List<TextEvasion.Attack> together = TextEvasion.attack(texts, labels, counted, new TextEvasion.Options(3, 64));
        assertTrue(calls[0] <= 1 + 3, "one call ranks every text's words, then one per edit: " + calls[0]);
        for (int i = 0; i < texts.size(); i++) {
            TextEvasion.Attack alone = TextEvasion.attack(texts.subList(i, i + 1), new int[] {labels[i]}, FILTER, new TextEvasion.Options(3, 64)).get(0);
            TextEvasion.Attack t = together.get(i);
            assertEquals(i, t.index());
            assertEquals(alone.attacked(), t.attacked(), texts.get(i));
            assertEquals(alone.editsToFlip(), t.editsToFlip(), texts.get(i));
            assertEquals(alone.edited(), t.edited(), texts.get(i));
            assertEquals(alone.edits(), t.edits(), texts.get(i));
        }
        assertEquals(0, together.get(3).editsToFlip(), "four keywords need four edits: " + together.get(3));
        assertEquals(3, together.get(3).edits().size());
    }

    @Test
    void normalisationUndoesHomoglyphsAndZeroWidthButNotPunctuationOrSwaps() {
        for (String w : List.of("free", "offer", "viagra")) {
            assertEquals(w, TextNormalizer.normalize(TextEvasion.edit(w, TextEvasion.Edit.HOMOGLYPH)));
            assertEquals(w, TextNormalizer.normalize(TextEvasion.edit(w, TextEvasion.Edit.ZERO_WIDTH)));
            assertTrue(!TextNormalizer.normalize(TextEvasion.edit(w, TextEvasion.Edit.PUNCTUATION)).equals(w));
        }
        assertEquals("fere", TextEvasion.edit("free", TextEvasion.Edit.SWAP));
        assertEquals("FREE money", TextNormalizer.normalize("ＦＲＥＥ mo\u00ADney"));
        assertEquals("paypal", TextNormalizer.normalize("р\u0430уp\u03B1l"));
        assertEquals(null, TextEvasion.edit("a", TextEvasion.Edit.ZERO_WIDTH));
    }

    @Test
    void theNormalisedPipelineResistsTheEditsItFolds() {
        Function<List<String>, float[][]> defended = texts -> FILTER.apply(texts.stream().map(TextNormalizer::normalize).toList());
        List<TextEvasion.Attack> a = TextEvasion.attack(List.of("free"), new int[] {1}, defended, new TextEvasion.Options(1, 64));
        // homoglyphs and zero-width are undone; a full stop or a swap still breaks the keyword
        assertEquals(1, a.get(0).editsToFlip());
        assertTrue(a.get(0).edits().get(0) == TextEvasion.Edit.PUNCTUATION || a.get(0).edits().get(0) == TextEvasion.Edit.SWAP, a.get(0).toString());
    }
}
