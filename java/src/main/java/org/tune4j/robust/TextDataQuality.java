package org.tune4j.robust;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * Data checks for text (ARCHITECTURE.md "Robustness of the text model"), the counterparts of {@link DataQuality}'s:
 * <ul>
 *   <li>field leakage: for each metadata field of the examples (a mail header, the sender's domain ...), a quick
 *       probe (multinomial naive Bayes over the field's tokens, k-fold cross-validated) that predicts the label from
 *       that field alone; a field whose balanced accuracy reaches the limit gives the label away;</li>
 *   <li>near-duplicates across splits: MinHash signatures over word 3-gram shingles (Broder 1997), candidate pairs
 *       from locality-sensitive hashing in bands, confirmed by the signatures' estimate of the Jaccard similarity.</li>
 * </ul>
 * Label issues are {@link DataQuality#labelIssues}, given out-of-sample probabilities.
 */
public final class TextDataQuality {
    private TextDataQuality() {}

    /** One field's probe: its cross-validated balanced accuracy, how many examples have it, and whether it leaks. */
    public record FieldProbe(String field, double balancedAccuracy, int present, boolean flagged, String example) {}

    /**
     * Probes every field. {@code fields.get(name)[i]} is example i's value of that field ("" when absent, itself a
     * value: a header only one class has leaks by its presence).
     */
    public static List<FieldProbe> fieldLeakage(Map<String, String[]> fields, int[] labels, int classes, int folds, double flagAt, long seed) {
        if (folds < 2) throw new IllegalArgumentException("folds must be >= 2, is " + folds);
        if (!(flagAt > 0 && flagAt <= 1)) throw new IllegalArgumentException("flagAt is a balanced accuracy in (0, 1], is " + flagAt);
        int n = labels.length;
        int[] fold = new int[n];
        SplittableRandom rng = new SplittableRandom(seed);
        for (int i = 0; i < n; i++) fold[i] = rng.nextInt(folds);
        List<FieldProbe> out = new ArrayList<>();
        for (var e : fields.entrySet()) {
            String[] values = e.getValue();
            if (values.length != n) throw new IllegalArgumentException("field " + e.getKey() + " has " + values.length + " values for " + n + " labels");
            List<List<String>> tokens = new ArrayList<>(n);
            int present = 0;
            String example = "";
            for (String v : values) {
                tokens.add(tokens(v));
                if (!v.isEmpty()) {
                    present++;
                    if (example.isEmpty()) example = v.length() > 120 ? v.substring(0, 120) + "…" : v;
                }
            }
            int[] predicted = new int[n];
            for (int f = 0; f < folds; f++) {
                NaiveBayes nb = new NaiveBayes(classes);
                for (int i = 0; i < n; i++) if (fold[i] != f) nb.add(tokens.get(i), labels[i]);
                for (int i = 0; i < n; i++) if (fold[i] == f) predicted[i] = nb.predict(tokens.get(i));
            }
            double bacc = balancedAccuracy(predicted, labels, classes);
            out.add(new FieldProbe(e.getKey(), bacc, present, bacc >= flagAt, example));
        }
        return out;
    }

    /** The mean over classes of the share of that class's examples predicted as it (chance: 1 / classes). */
    static double balancedAccuracy(int[] predicted, int[] labels, int classes) {
        int[] right = new int[classes], total = new int[classes];
        for (int i = 0; i < labels.length; i++) {
            total[labels[i]]++;
            if (predicted[i] == labels[i]) right[labels[i]]++;
        }
        double s = 0;
        int seen = 0;
        for (int c = 0; c < classes; c++) {
            if (total[c] == 0) continue;
            s += (double) right[c] / total[c];
            seen++;
        }
        return s / seen;
    }

    /** A value's lower-cased alphanumeric runs, and the whole value (so "absent" and exact values are features too). */
    static List<String> tokens(String value) {
        List<String> t = new ArrayList<>();
        t.add("=" + value.toLowerCase(Locale.ROOT).strip());
        for (String w : value.toLowerCase(Locale.ROOT).split("[^\\p{L}\\p{N}]+")) if (!w.isEmpty()) t.add(w);
        return t;
    }

    /** Multinomial naive Bayes with add-one smoothing and the classes' priors. */
    private static final class NaiveBayes {
        private final List<Map<String, Integer>> counts = new ArrayList<>();
        private final long[] totals, docs;
        private final Set<String> vocabulary = new HashSet<>();

        NaiveBayes(int classes) {
            for (int c = 0; c < classes; c++) counts.add(new HashMap<>());
            totals = new long[classes];
            docs = new long[classes];
        }

        void add(List<String> tokens, int label) {
            docs[label]++;
            for (String t : tokens) {
                counts.get(label).merge(t, 1, Integer::sum);
                totals[label]++;
                vocabulary.add(t);
            }
        }

        int predict(List<String> tokens) {
            long allDocs = 0;
            for (long d : docs) allDocs += d;
            int best = 0;
            double bestScore = Double.NEGATIVE_INFINITY;
            for (int c = 0; c < docs.length; c++) {
                double s = Math.log((docs[c] + 1.0) / (allDocs + docs.length));
                for (String t : tokens) s += Math.log((counts.get(c).getOrDefault(t, 0) + 1.0) / (totals[c] + vocabulary.size() + 1.0));
                if (s > bestScore) {
                    bestScore = s;
                    best = c;
                }
            }
            return best;
        }
    }

    /** A text of one split with a near-copy in the other: the signatures' Jaccard estimate. */
    public record NearDuplicate(int testIndex, int trainIndex, double jaccard) {}

    static final int HASHES = 128, BANDS = 32, ROWS = HASHES / BANDS, SHINGLE_WORDS = 3;

    /**
     * Every test text whose MinHash estimate of Jaccard similarity to some training text is at least {@code minJaccard}
     * (the most similar one reported). With 32 bands of 4 hashes, a pair at Jaccard 0.8 becomes a candidate with
     * probability 1 - (1 - 0.8⁴)³² > 0.9999; at 0.5, 0.87; the estimate then decides.
     */
    public static List<NearDuplicate> nearDuplicates(List<String> train, List<String> test, double minJaccard) {
        if (!(minJaccard > 0 && minJaccard <= 1)) throw new IllegalArgumentException("minJaccard must be in (0, 1], is " + minJaccard);
        long[][] trainSig = new long[train.size()][];
        Map<Long, List<Integer>> buckets = new HashMap<>();
        for (int i = 0; i < train.size(); i++) {
            trainSig[i] = signature(train.get(i));
            for (int b = 0; b < BANDS; b++) buckets.computeIfAbsent(bandKey(trainSig[i], b), k -> new ArrayList<>()).add(i);
        }
        List<NearDuplicate> out = new ArrayList<>();
        for (int t = 0; t < test.size(); t++) {
            long[] sig = signature(test.get(t));
            Map<Integer, Boolean> seen = new LinkedHashMap<>();
            for (int b = 0; b < BANDS; b++) for (int i : buckets.getOrDefault(bandKey(sig, b), List.of())) seen.put(i, true);
            int best = -1;
            double bestJ = -1;
            for (int i : seen.keySet()) {
                double j = estimate(sig, trainSig[i]);
                if (j > bestJ) {
                    bestJ = j;
                    best = i;
                }
            }
            if (best >= 0 && bestJ >= minJaccard) out.add(new NearDuplicate(t, best, bestJ));
        }
        return out;
    }

    /** The MinHash signature: for each of 128 seeded hash functions, the smallest hash over the text's shingles. */
    static long[] signature(String text) {
        String[] w = text.toLowerCase(Locale.ROOT).split("[^\\p{L}\\p{N}]+");
        List<String> words = new ArrayList<>();
        for (String s : w) if (!s.isEmpty()) words.add(s);
        Set<Long> shingles = new HashSet<>();
        if (words.size() < SHINGLE_WORDS) shingles.add(hash64(String.join(" ", words)));
        for (int i = 0; i + SHINGLE_WORDS <= words.size(); i++) shingles.add(hash64(String.join(" ", words.subList(i, i + SHINGLE_WORDS))));
        long[] sig = new long[HASHES];
        java.util.Arrays.fill(sig, Long.MAX_VALUE);
        for (long s : shingles) {
            for (int h = 0; h < HASHES; h++) {
                long v = mix(s ^ (0x9E3779B97F4A7C15L * (h + 1)));
                if (Long.compareUnsigned(v, sig[h]) < 0) sig[h] = v;
            }
        }
        return sig;
    }

    static double estimate(long[] a, long[] b) {
        int same = 0;
        for (int i = 0; i < a.length; i++) if (a[i] == b[i]) same++;
        return (double) same / a.length;
    }

    private static long bandKey(long[] sig, int band) {
        long k = band;
        for (int r = 0; r < ROWS; r++) k = mix(k * 31 + sig[band * ROWS + r]);
        return k;
    }

    /** A 64-bit string hash (FNV-1a over UTF-16 units, then mixed). */
    private static long hash64(String s) {
        long h = 0xcbf29ce484222325L;
        for (int i = 0; i < s.length(); i++) {
            h ^= s.charAt(i);
            h *= 0x100000001b3L;
        }
        return mix(h);
    }

    /** SplitMix64's finaliser: every input bit moves every output bit. */
    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
