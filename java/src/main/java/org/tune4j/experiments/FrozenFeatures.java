package org.tune4j.experiments;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.tune4j.backend.Backend;
import org.tune4j.eval.EvaluateText;
import org.tune4j.nn.BertClassifier;

/**
 * The pretrained encoder's pooled vectors of texts, computed once for a whole {@link TextFinetuning} job: the head-only
 * method and the linear probe train on the frozen encoder, which is the same checkpoint in every run and seed, so a
 * text's vector is the same wherever it is asked for. Keyed by the text (the job's texts are deduplicated).
 */
final class FrozenFeatures {
    private final Map<String, float[]> byText = new HashMap<>();
    private long computed;

    /**
     * The pooled vectors [n][hidden] of {@code texts} (tokenized as {@code ids}) on {@code model}'s encoder, which must
     * be the frozen pretrained one; those not seen before are computed in batches of 32.
     */
    float[][] pooled(Backend backend, BertClassifier model, List<String> texts, int[][] ids) {
        if (texts.size() != ids.length) throw new IllegalArgumentException(texts.size() + " texts for " + ids.length + " token sequences");
        if (model.bert().parameterCount(true) > 0) throw new IllegalArgumentException("cached vectors are the frozen encoder's; this one has parameters to train");
        Map<String, Integer> firstMissing = new LinkedHashMap<>(); // each text not yet computed, at its first index here
        for (int i = 0; i < ids.length; i++) if (!byText.containsKey(texts.get(i))) firstMissing.putIfAbsent(texts.get(i), i);
        List<Integer> missing = new ArrayList<>(firstMissing.values());
        if (!missing.isEmpty()) {
            int[][] todo = new int[missing.size()][];
            for (int k = 0; k < todo.length; k++) todo[k] = ids[missing.get(k)];
            float[][] v = EvaluateText.pooled(backend, model, todo, 32);
            for (int k = 0; k < todo.length; k++) byText.put(texts.get(missing.get(k)), v[k]);
            computed += todo.length;
        }
        float[][] out = new float[ids.length][];
        for (int i = 0; i < ids.length; i++) out[i] = byText.get(texts.get(i));
        return out;
    }

    /** How many texts' vectors have been computed so far. */
    long computed() {
        return computed;
    }
}
