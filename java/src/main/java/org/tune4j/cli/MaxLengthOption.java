package org.tune4j.cli;

import picocli.CommandLine.Option;

/**
 * {@code --max-length N} on the commands that run a BERT on texts for inference (a picocli mixin of embed, classify and
 * serve): tokens kept per text, by default as sentence-transformers truncates ({@code io.SentencePipeline.tokensKept}),
 * so the three commands give one text one vector.
 */
final class MaxLengthOption {
    @Option(names = "--max-length", paramLabel = "N", description = "Tokens kept per text, [CLS] and [SEP] included (default: the folder's sentence_bert_config.json "
            + "max_seq_length, as sentence-transformers truncates; without one 256, or the model's positions if fewer).")
    Integer tokens;

    /** N, refused below 2; 0 for the folder's default. */
    int tokens() {
        if (tokens == null) return 0;
        OptionChecks.atLeast("--max-length", tokens, 2);
        return tokens;
    }
}
