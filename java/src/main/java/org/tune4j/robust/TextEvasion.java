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
     * The texts advance together, each as if attacked alone: one call ranks every text's words, then one call per edit
     * tries every text's next candidates (large batches: the model's time per text falls with the batch).
     */
    public static List<Attack> attack(List<String> texts, int[] labels, Function<List<String>, float[][]> probabilities, Options o) {
        if (texts.size() != labels.length) throw new IllegalArgumentException(texts.size() + " texts, " + labels.length + " labels");
        List<String> variants = new ArrayList<>();
        List<State> states = new ArrayList<>();
        for (int t = 0; t < texts.size(); t++) {
            State s = new State(t, texts.get(t), labels[t], o.maxWords());
            states.add(s);
            variants.add(s.text);
            for (int w = 0; w < s.ranked; w++) variants.add(join(s.words, w, null));
        }
        float[][] p = probabilities.apply(variants);
        int row = 0;
        for (State s : states) {
            s.rank(Arrays.copyOfRange(p, row, row + s.ranked + 1));
            row += s.ranked + 1;
        }
        for (int round = 0; round < o.budget(); round++) {
            List<String> candidates = new ArrayList<>();
            List<State> asking = new ArrayList<>();
            for (State s : states) {
                if (s.result == null && s.nextCandidates(o.budget())) {
                    asking.add(s);
                    candidates.addAll(s.candidates);
                }
            }
            if (asking.isEmpty()) break;
            float[][] q = probabilities.apply(candidates);
            row = 0;
            for (State s : asking) {
                s.take(Arrays.copyOfRange(q, row, row + s.candidates.size()));
                row += s.candidates.size();
            }
        }
        List<Attack> out = new ArrayList<>();
        for (State s : states) out.add(s.result != null ? s.result : s.finish());
        return out;
    }

    /** One text's attack between model calls: its words, their order by importance, the edits made so far. */
    private static final class State {
        final int index, label, ranked;
        final String text;
        final String[] words;
        Integer[] order;
        int next, used;            // the next word in order to try; edits made
        double before, current;    // the true class's probability before the attack, and now
        final List<Edit> edits = new ArrayList<>();
        final List<String> candidates = new ArrayList<>();
        final List<Edit> kinds = new ArrayList<>();
        int word;                  // the word the candidates edit
        Attack result;             // set when the attack is over before the budget ran out

        State(int index, String text, int label, int maxWords) {
            this.index = index;
            this.text = text;
            this.label = label;
            this.words = text.split(" ", -1);
            this.ranked = Math.min(words.length, maxWords);
        }

        /** p[0]: the text's probabilities, p[1 + w]: with word w deleted. */
        void rank(float[][] p) {
            before = current = p[0][label];
            if (argmax(p[0]) != label) {
                result = new Attack(index, false, 0, text, text, List.of(), before, before);
                return;
            }
            order = new Integer[ranked];
            for (int i = 0; i < ranked; i++) order[i] = i;
            Arrays.sort(order, (a, b) -> Double.compare(p[a + 1][label], p[b + 1][label])); // the largest drop first
        }

        /** The next editable word's candidates; false when no word is left to edit within the budget. */
        boolean nextCandidates(int budget) {
            candidates.clear();
            kinds.clear();
            while (next < ranked && used < budget) {
                word = order[next++];
                for (Edit e : Edit.values()) {
                    String edited = edit(words[word], e);
                    if (edited == null) continue;
                    candidates.add(join(words, word, edited));
                    kinds.add(e);
                }
                if (!candidates.isEmpty()) return true; // else a word too short to edit
            }
            return false;
        }

        /** q: the candidates' probabilities; keeps the one that lowers the true class's most. */
        void take(float[][] q) {
            int best = 0;
            for (int c = 1; c < q.length; c++) if (q[c][label] < q[best][label]) best = c;
            words[word] = edit(words[word], kinds.get(best));
            edits.add(kinds.get(best));
            used++;
            current = q[best][label];
            if (argmax(q[best]) != label) result = new Attack(index, true, used, text, String.join(" ", words), List.copyOf(edits), before, current);
        }

        /** The attack when the budget or the words ran out without a flip. */
        Attack finish() {
            return new Attack(index, true, 0, text, String.join(" ", words), List.copyOf(edits), before, current);
        }
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
