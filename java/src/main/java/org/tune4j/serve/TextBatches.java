package org.tune4j.serve;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import org.tune4j.autograd.Workspace;
import org.tune4j.data.TextTokenizer;
import org.tune4j.io.HfCheckpoint;
import org.tune4j.io.SentencePipeline;

/**
 * What {@link SentenceEncoder} and {@link TextClassifier} share: a folder's tokenizer at the length its texts keep, and
 * texts run in batches of about one length on a workspace of a pool, longest first as sentence-transformers encodes
 * (a batch of similar lengths pads little), each result put back at its text's place in the caller's list.
 */
final class TextBatches {
    /** One batch: {@code texts} (of about one length), {@code places[i]} where texts[i] was in the caller's list. */
    interface Body {
        void run(Workspace ws, List<String> texts, int[] places);
    }

    private TextBatches() {}

    /** The tokenizer of {@code folder}, keeping {@link SentencePipeline#tokensKept} tokens a text. */
    static TextTokenizer tokenizer(Path folder, int asked, int positions) throws IOException {
        return TextTokenizer.load(folder.resolve(HfCheckpoint.TOKENIZER), SentencePipeline.tokensKept(folder, asked, positions));
    }

    /** Refuses no texts, or a null or blank one, naming it. */
    static void check(List<String> texts) {
        if (texts == null || texts.isEmpty()) throw new IllegalArgumentException("no texts");
        for (int i = 0; i < texts.size(); i++) {
            if (texts.get(i) == null || texts.get(i).isBlank()) throw new IllegalArgumentException("text " + i + " is empty");
        }
    }

    /** {@code texts} (checked) in batches of at most {@code batch}, longest first, each through {@code body} on one workspace of {@code pool}. */
    static void run(List<String> texts, int batch, WorkspacePool pool, Body body) {
        check(texts);
        Integer[] order = new Integer[texts.size()];
        for (int i = 0; i < order.length; i++) order[i] = i;
        Arrays.sort(order, Comparator.comparingInt((Integer i) -> texts.get(i).length()).reversed());
        Workspace ws = pool.take();
        try {
            for (int from = 0; from < order.length; from += batch) {
                int n = Math.min(order.length, from + batch) - from;
                List<String> part = new ArrayList<>(n);
                int[] places = new int[n];
                for (int k = 0; k < n; k++) {
                    places[k] = order[from + k];
                    part.add(texts.get(places[k]));
                }
                body.run(ws, part, places);
            }
        } finally {
            pool.give(ws);
        }
    }
}
