package org.tune4j.nn;

/**
 * The shape of a BERT encoder, as the fields of a Hugging Face {@code config.json} (BertConfig): hidden_size,
 * num_hidden_layers, num_attention_heads, intermediate_size, vocab_size, max_position_embeddings,
 * type_vocab_size, layer_norm_eps, hidden_act ("gelu": the erf form; "gelu_new" or "gelu_pytorch_tanh": the tanh form).
 */
public record BertConfig(int vocabSize, int hidden, int layers, int heads, int intermediate, int maxPositions, int typeVocabSize, float layerNormEps,
        String hiddenAct) {
    public BertConfig {
        if (vocabSize < 1 || hidden < 1 || layers < 1 || heads < 1 || intermediate < 1 || maxPositions < 1 || typeVocabSize < 1) {
            throw new IllegalArgumentException("every size of a BERT must be >= 1: vocab_size " + vocabSize + ", hidden_size " + hidden + ", num_hidden_layers "
                    + layers + ", num_attention_heads " + heads + ", intermediate_size " + intermediate + ", max_position_embeddings " + maxPositions
                    + ", type_vocab_size " + typeVocabSize);
        }
        if (hidden % heads != 0) throw new IllegalArgumentException("hidden_size " + hidden + " is not a multiple of num_attention_heads " + heads);
        if (!(layerNormEps > 0f) || !Float.isFinite(layerNormEps)) throw new IllegalArgumentException("layer_norm_eps must be a finite number > 0, is " + layerNormEps);
        exactGelu(hiddenAct); // refuses an activation we do not have
    }

    /** Whether {@code act} is GELU's erf form (true) or its tanh form (false); anything else is refused by name. */
    public static boolean exactGelu(String act) {
        return switch (act) {
            case "gelu" -> true;
            case "gelu_new", "gelu_pytorch_tanh" -> false;
            default -> throw new IllegalArgumentException("hidden_act '" + act + "' is not supported (gelu, gelu_new, gelu_pytorch_tanh)");
        };
    }

    /**
     * How many numbers the encoder's parameters hold (BertModel's, no pooler or head): the embeddings [vocab + positions
     * + types, d] and their LayerNorm (2d), and per layer q, k, v and the attention's output [d, d] + d each, two
     * LayerNorms (2d each), the FFN's up [i, d] + i and down [d, i] + d. A checkpoint is checked against it before
     * anything of this size is allocated.
     */
    public long parameterCount() {
        long d = hidden, i = intermediate;
        try { // exact, saturating: config.json's sizes are any ints
            long perLayer = Math.addExact(Math.multiplyExact(4, Math.addExact(Math.multiplyExact(d, d), d)), 4 * d + 2 * Math.multiplyExact(i, d) + i + d);
            return Math.addExact(Math.multiplyExact((long) vocabSize + maxPositions + typeVocabSize, d) + 2 * d, Math.multiplyExact(layers, perLayer));
        } catch (ArithmeticException tooMany) {
            return Long.MAX_VALUE;
        }
    }

    /** all-MiniLM-L6-v2's shape (6 layers of 384, 12 heads, FFN 1536, BERT's uncased vocabulary). */
    public static BertConfig miniLmL6() {
        return new BertConfig(30522, 384, 6, 12, 1536, 512, 2, 1e-12f, "gelu");
    }
}
