package org.tune4j.robust;

import java.text.Normalizer;
import java.util.Map;

/**
 * The defence against character-level obfuscation that needs no model (ARCHITECTURE.md "Robustness of the text
 * model"): Unicode NFKC (full-width and mathematical letters, ligatures and compatibility forms become plain ones),
 * format characters removed (zero-width spaces and joiners, soft hyphens, direction marks: Unicode category Cf), and
 * homoglyphs folded: the Cyrillic and Greek letters that look like Latin ones, from Unicode's confusables list
 * (UTS #39) restricted to the Latin alphabet. ICU4J's {@code SpoofChecker} would fold every script, at 14 MB of jar
 * for one table; the attack and spam seen in the wild use these.
 */
public final class TextNormalizer {
    private TextNormalizer() {}

    /** Cyrillic and Greek look-alikes of Latin letters, and the letter each folds to. */
    static final Map<Character, Character> HOMOGLYPHS = Map.ofEntries(
            Map.entry('\u0430', 'a'), Map.entry('\u0441', 'c'), Map.entry('\u0435', 'e'), Map.entry('\u043E', 'o'), Map.entry('\u0440', 'p'),
            Map.entry('\u0445', 'x'), Map.entry('\u0443', 'y'), Map.entry('\u0456', 'i'), Map.entry('\u0458', 'j'), Map.entry('\u0455', 's'),
            Map.entry('\u04BB', 'h'), Map.entry('\u0501', 'd'), Map.entry('\u051B', 'q'), Map.entry('\u051D', 'w'),
            Map.entry('\u0410', 'A'), Map.entry('\u0412', 'B'), Map.entry('\u0421', 'C'), Map.entry('\u0415', 'E'), Map.entry('\u041D', 'H'),
            Map.entry('\u0406', 'I'), Map.entry('\u0408', 'J'), Map.entry('\u041A', 'K'), Map.entry('\u041C', 'M'), Map.entry('\u041E', 'O'),
            Map.entry('\u0420', 'P'), Map.entry('\u0405', 'S'), Map.entry('\u0422', 'T'), Map.entry('\u0425', 'X'), Map.entry('\u04AE', 'Y'),
            Map.entry('\u03BF', 'o'), Map.entry('\u03B1', 'a'), Map.entry('\u03BD', 'v'), Map.entry('\u03B9', 'i'), Map.entry('\u03BA', 'k'),
            Map.entry('\u0391', 'A'), Map.entry('\u0392', 'B'), Map.entry('\u0395', 'E'), Map.entry('\u0396', 'Z'), Map.entry('\u0397', 'H'),
            Map.entry('\u0399', 'I'), Map.entry('\u039A', 'K'), Map.entry('\u039C', 'M'), Map.entry('\u039D', 'N'), Map.entry('\u039F', 'O'),
            Map.entry('\u03A1', 'P'), Map.entry('\u03A4', 'T'), Map.entry('\u03A5', 'Y'), Map.entry('\u03A7', 'X'));

    /** NFKC, then format characters dropped and homoglyphs folded. */
    public static String normalize(String text) {
        String s = Normalizer.normalize(text, Normalizer.Form.NFKC);
        StringBuilder sb = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); ) {
            int cp = s.codePointAt(i);
            i += Character.charCount(cp);
            if (Character.getType(cp) == Character.FORMAT) continue;
            Character folded = cp <= 0xFFFF ? HOMOGLYPHS.get((char) cp) : null;
            if (folded != null) sb.append(folded.charValue());
            else sb.appendCodePoint(cp);
        }
        return sb.toString();
    }
}
