package org.tune4j.robust;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * A character-level evasion attack as spammers write it (ARCHITECTURE.md "Robustness of the text model"), guided by
 * the model in the manner of greedy word importance (DeepWordBug, Gao et al. 2018; TextBugger, Li et al. 2019): each
 * word's importance is how much the true class's probability falls when the word is deleted; the most important
 * words are then edited one at a time, each by whichever of four edits lowers that probability most: a homoglyph
 * (a Latin letter replaced by its Cyrillic twin), a zero-width space inside the word, a full stop inside it, or two
 * inner letters swapped. The attack succeeds when the prediction leaves the true class within the edit budget
 * (one edit = one word changed).
 */
public final class TextEvasion {
    /** The four edits. */
    public enum Edit { HOMOGLYPH, ZERO_WIDTH, PUNCTUATION, SWAP }

    /**
     * One text's attack: {@code attacked} when the model first predicted it right (else nothing is done); edits used until
     * the prediction flipped (0: never, within the budget), the final text and its edits.
     */
    public record Attack(int index, boolean attacked, int editsToFlip, String original, String edited, List<Edit> edits, double trueProbabilityBefore, double trueProbabilityAfter) {
        public boolean succeededWithin(int budget) {
            return editsToFlip > 0 && editsToFlip <= budget;
        }
    }

    /** Only the first {@code maxWords} words are ranked (a classifier reads a window; words past it cannot matter). */
    public record Options(int budget, int maxWords) {
        public Options {
            if (budget < 1) throw new IllegalArgumentException("the edit budget must be >= 1, is " + budget);
            if (maxWords < 1) throw new IllegalArgumentException("maxWords must be >= 1, is " + maxWords);
        }
    }

    private static final Map<Character, Character> TO_CYRILLIC = Map.ofEntries(Map.entry('a', '\u0430'), Map.entry('c', '\u0441'), Map.entry('e', '\u0435'),
            Map.entry('o', '\u043E'), Map.entry('p', '\u0440'), Map.entry('x', '\u0445'), Map.entry('y', '\u0443'), Map.entry('i', '\u0456'), Map.entry('s', '\u0455'),
            Map.entry('A', '\u0410'), Map.entry('B', '\u0412'), Map.entry('C', '\u0421'), Map.entry('E', '\u0415'), Map.entry('H', '\u041D'), Map.entry('K', '\u041A'),
            Map.entry('M', '\u041C'), Map.entry('O', '\u041E'), Map.entry('P', '\u0420'), Map.entry('T', '\u0422'), Map.entry('X', '\u0425'));

    private TextEvasion() {}

    /**
     * Attacks each text. {@code probabilities} maps a list of texts to each one's class probabilities (the model, batched);
     * {@code labels} are the true classes (texts the model already gets wrong are reported with editsToFlip 0 and no edit).
     */
    public static List<Attack> attack(List<String> texts, int[] labels, Function<List<String>, float[][]> probabilities, Options o) {
        if (texts.size() != labels.length) throw new IllegalArgumentException(texts.size() + " texts, " + labels.length + " labels");
        List<Attack> out = new ArrayList<>();
        for (int t = 0; t < texts.size(); t++) out.add(one(t, texts.get(t), labels[t], probabilities, o));
        return out;
    }

    private static Attack one(int index, String text, int label, Function<List<String>, float[][]> model, Options o) {
        String[] words = text.split(" ", -1);
        int ranked = Math.min(words.length, o.maxWords());
        List<String> variants = new ArrayList<>(ranked + 1);
        variants.add(text);
        for (int w = 0; w < ranked; w++) variants.add(join(words, w, null));
        float[][] p = model.apply(variants);
        double before = p[0][label];
        if (argmax(p[0]) != label) return new Attack(index, false, 0, text, text, List.of(), before, before);
        Integer[] order = new Integer[ranked];
        for (int i = 0; i < ranked; i++) order[i] = i;
        Arrays.sort(order, (a, b) -> Double.compare(p[a + 1][label], p[b + 1][label])); // the largest drop first
        List<Edit> edits = new ArrayList<>();
        double current = before;
        int used = 0;
        for (int k = 0; k < ranked && used < o.budget(); k++) {
            int w = order[k];
            List<String> candidates = new ArrayList<>();
            List<Edit> kinds = new ArrayList<>();
            for (Edit e : Edit.values()) {
                String edited = edit(words[w], e);
                if (edited == null) continue;
                candidates.add(join(words, w, edited));
                kinds.add(e);
            }
            if (candidates.isEmpty()) continue; // a word too short to edit
            float[][] q = model.apply(candidates);
            int best = 0;
            for (int c = 1; c < q.length; c++) if (q[c][label] < q[best][label]) best = c;
            words[w] = edit(words[w], kinds.get(best));
            edits.add(kinds.get(best));
            used++;
            current = q[best][label];
            if (argmax(q[best]) != label) return new Attack(index, true, used, text, String.join(" ", words), edits, before, current);
        }
        return new Attack(index, true, 0, text, String.join(" ", words), edits, before, current);
    }

    /** The word with one edit, or null when it has no place for it (too short, no letter with a twin). */
    static String edit(String word, Edit e) {
        int n = word.length();
        switch (e) {
            case HOMOGLYPH -> {
                for (int i = 0; i < n; i++) {
                    Character c = TO_CYRILLIC.get(word.charAt(i));
                    if (c != null) return word.substring(0, i) + c + word.substring(i + 1);
                }
                return null;
            }
            case ZERO_WIDTH -> {
                return n < 2 ? null : word.substring(0, n / 2) + '\u200B' + word.substring(n / 2);
            }
            case PUNCTUATION -> {
                return n < 2 ? null : word.substring(0, n / 2) + '.' + word.substring(n / 2);
            }
            case SWAP -> {
                if (n < 4) return null;
                int i = n / 2 - 1;
                if (word.charAt(i) == word.charAt(i + 1)) return null;
                return word.substring(0, i) + word.charAt(i + 1) + word.charAt(i) + word.substring(i + 2);
            }
            default -> throw new AssertionError(e);
        }
    }

    /** The words joined, word {@code w} replaced (null: deleted). */
    private static String join(String[] words, int w, String replacement) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < words.length; i++) {
            String x = i == w ? replacement : words[i];
            if (x == null) continue;
            if (!sb.isEmpty()) sb.append(' ');
            sb.append(x);
        }
        return sb.toString();
    }

    private static int argmax(float[] p) {
        int b = 0;
        for (int i = 1; i < p.length; i++) if (p[i] > p[b]) b = i;
        return b;
    }

    /** The share of attacked texts (those first predicted right) flipped within {@code budget} edits. */
    public static double successRate(List<Attack> attacks, int budget) {
        int attacked = 0, flipped = 0;
        for (Attack a : attacks) {
            if (!a.attacked()) continue;
            attacked++;
            if (a.succeededWithin(budget)) flipped++;
        }
        return attacked == 0 ? Double.NaN : (double) flipped / attacked;
    }
}
