package org.tune4j.data;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;

/** Labelled texts: texts[i] has class labels[i] in [0, classes.size()). */
public record TextDataset(String name, List<String> texts, int[] labels, List<String> classes) {
    public TextDataset {
        texts = List.copyOf(texts);
        classes = List.copyOf(classes);
        if (texts.size() != labels.length) throw new IllegalArgumentException(name + ": " + texts.size() + " texts but " + labels.length + " labels");
        if (classes.size() < 2) throw new IllegalArgumentException(name + ": a data set needs at least 2 classes, has " + classes);
        for (int i = 0; i < labels.length; i++) {
            if (labels[i] < 0 || labels[i] >= classes.size()) throw new IllegalArgumentException(name + ": label " + labels[i] + " of text " + i + " is not a class");
        }
        labels = labels.clone();
    }

    public int size() {
        return texts.size();
    }

    /** How many texts each class has. */
    public int[] counts() {
        int[] c = new int[classes.size()];
        for (int l : labels) c[l]++;
        return c;
    }

    /** The texts at {@code index}, in that order. */
    public TextDataset select(String subsetName, List<Integer> index) {
        List<String> t = new ArrayList<>(index.size());
        int[] l = new int[index.size()];
        for (int i = 0; i < index.size(); i++) {
            t.add(texts.get(index.get(i)));
            l[i] = labels[index.get(i)];
        }
        return new TextDataset(subsetName, t, l, classes);
    }

    /** The first text of each distinct key ({@code keys[i]} the key of text i, e.g. its body without the subject). */
    public TextDataset deduplicated(List<String> keys) {
        if (keys.size() != size()) throw new IllegalArgumentException("one key per text: " + keys.size() + " keys for " + size() + " texts");
        Set<String> seen = new LinkedHashSet<>();
        List<Integer> keep = new ArrayList<>();
        for (int i = 0; i < size(); i++) if (seen.add(keys.get(i))) keep.add(i);
        return select(name, keep);
    }

    /** A seeded split keeping each class's share: fractions of each class for each part, in order (the rest to the last). */
    public List<TextDataset> stratifiedSplit(long seed, String[] partNames, double... fractions) {
        if (partNames.length != fractions.length + 1) throw new IllegalArgumentException("one name per part: " + partNames.length + " names for " + (fractions.length + 1) + " parts");
        List<List<Integer>> parts = new ArrayList<>();
        for (int p = 0; p < partNames.length; p++) parts.add(new ArrayList<>());
        SplittableRandom rng = new SplittableRandom(seed);
        for (int c = 0; c < classes.size(); c++) {
            List<Integer> members = new ArrayList<>();
            for (int i = 0; i < size(); i++) if (labels[i] == c) members.add(i);
            Collections.shuffle(members, rng);
            int from = 0;
            for (int p = 0; p < fractions.length; p++) {
                int n = (int) Math.round(members.size() * fractions[p]);
                parts.get(p).addAll(members.subList(from, Math.min(members.size(), from + n)));
                from = Math.min(members.size(), from + n);
            }
            parts.get(fractions.length).addAll(members.subList(from, members.size()));
        }
        List<TextDataset> out = new ArrayList<>();
        for (int p = 0; p < partNames.length; p++) {
            Collections.sort(parts.get(p)); // the data set's order within a part: the split decides membership only
            out.add(select(name + " " + partNames[p], parts.get(p)));
        }
        return out;
    }

    /** A seeded class-stratified sample of at most {@code n} texts. */
    public TextDataset sample(long seed, int n) {
        if (n >= size()) return this;
        return stratifiedSplit(seed, new String[] {"sample", "rest"}, (double) n / size()).get(0);
    }
}
