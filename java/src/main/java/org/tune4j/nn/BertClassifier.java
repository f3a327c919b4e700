package org.tune4j.nn;

import org.tune4j.autograd.SequenceOps;
import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import org.tune4j.autograd.Tape;
import org.tune4j.autograd.Var;
import org.tune4j.data.TokenBatch;

/**
 * A text classifier: a BERT encoder ("bert"), its last_hidden_state pooled per sequence (the mean over the
 * real tokens, as sentence-transformers; or the [CLS] token, as BertForSequenceClassification without its
 * pooler), and a linear head ("classifier", PEFT's modules_to_save). Names as Hugging Face's
 * BertForSequenceClassification, so a checkpoint's "bert." tensors are the encoder's.
 */
public final class BertClassifier extends Module {
    /** How a sequence's token states become one vector. */
    public enum Pooling { MEAN, CLS }

    private final BertModel bert;
    private final Pooling pooling;

    public BertClassifier(Arena arena, BertModel bert, Pooling pooling, int classes, SplittableRandom rng) {
        if (classes < 2) throw new IllegalArgumentException("a classifier needs at least 2 classes, has " + classes);
        this.bert = register("bert", bert);
        this.pooling = pooling;
        register("classifier", new Linear(arena, bert.config().hidden(), classes, true, rng));
    }

    public BertModel bert() {
        return bert;
    }

    public Pooling pooling() {
        return pooling;
    }

    /** Freezes the encoder and trains the head alone (head-only training, a linear probe). */
    public void trainHeadOnly() {
        setTrainable(false);
        namedModules().get("classifier").setTrainable(true);
    }

    /** The pooled sentence vectors [batch, hidden]. */
    public Var pooled(Tape t, TokenBatch in) {
        return pool(t, bert.forward(t, in), in, pooling);
    }

    /** Sentence vectors [batch, hidden] of the last hidden state [batch·seq, hidden]: each sequence's [CLS] row, or the mean over its real tokens. */
    public static Var pool(Tape t, Var hidden, TokenBatch in, Pooling pooling) {
        if (pooling == Pooling.CLS) return t.everyNthRow(hidden, in.seq(), 0);
        return in.pooling() != null ? SequenceOps.meanPool(t, hidden, in.pooling()) : SequenceOps.meanPool(t, hidden, in.lengths(), in.batch());
    }

    /** logits [batch, classes]. */
    public Var logits(Tape t, TokenBatch in) {
        return head(t, pooled(t, in));
    }

    /** logits with {@code embeddingDelta} [batch·seq, hidden] added to the embeddings ({@link BertModel#forward(Tape, TokenBatch, AdapterRouting, Var)}). */
    public Var logits(Tape t, TokenBatch in, Var embeddingDelta) {
        return head(t, pool(t, bert.forward(t, in, null, embeddingDelta), in, pooling));
    }

    /** The head alone: pooled vectors [batch, hidden] → logits [batch, classes] (a linear probe on cached vectors). */
    public Var head(Tape t, Var pooled) {
        return layer("classifier").forward(t, pooled);
    }
}
