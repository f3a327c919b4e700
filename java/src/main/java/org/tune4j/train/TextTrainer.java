package org.tune4j.train;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Consumer;
import org.tune4j.autograd.MicroBatches;
import org.tune4j.autograd.Tape;
import org.tune4j.autograd.Var;
import org.tune4j.autograd.Workspace;
import org.tune4j.backend.Backend;
import org.tune4j.backend.CpuBackend;
import org.tune4j.backend.PackedLinearWeights;
import org.tune4j.data.TokenBatch;
import org.tune4j.eval.EvaluateText;
import org.tune4j.nn.BertClassifier;
import org.tune4j.optim.AdamW;
import org.tune4j.optim.GradClip;
import org.tune4j.optim.LrSchedule;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * Fine-tunes a {@link BertClassifier} on token sequences: AdamW with BERT's schedule (linear warmup, then linear
 * decay to 0), gradient clipping, gradient accumulation, and length-bucketed batches (each epoch the sequences are
 * shuffled, sorted by length within pools of 50 batches and cut into batches whose order is shuffled again), so
 * a batch pads little. Whatever the model has trainable (all of it, adapters, the head) is trained.
 */
public final class TextTrainer {
    /**
     * How to train: {@code batch} sequences per step, gradients of {@code accumulate} steps summed before an update;
     * {@code adversarial} (null: none) trains on perturbed embeddings. {@code microBatches}: each step's batch cut into
     * that many parts ({@link MicroBatches}: on a CPU with no more threads than parts they run at once, a thread each),
     * their gradients summed in part order, so the bits depend on it and not on the threads; FreeLB runs batches whole.
     */
    public record Options(int epochs, int batch, int accumulate, float lr, float weightDecay, float warmupFraction, double clipNorm, long seed, FreeLb adversarial,
            int microBatches) {
        public Options {
            if (epochs < 1 || batch < 1 || accumulate < 1) throw new IllegalArgumentException("epochs, batch and accumulate must be >= 1: " + epochs + ", " + batch + ", " + accumulate);
            if (microBatches < 1 || microBatches > batch) throw new IllegalArgumentException("micro-batches must be in [1, batch " + batch + "], is " + microBatches);
            if (!(lr > 0 && lr < Float.POSITIVE_INFINITY)) throw new IllegalArgumentException("learning rate must be finite and > 0, is " + lr);
            if (!(warmupFraction >= 0 && warmupFraction < 1)) throw new IllegalArgumentException("warmup fraction must be in [0, 1), is " + warmupFraction);
        }

        public Options(int epochs, int batch, int accumulate, float lr, float weightDecay, float warmupFraction, double clipNorm, long seed, FreeLb adversarial) {
            this(epochs, batch, accumulate, lr, weightDecay, warmupFraction, clipNorm, seed, adversarial, 1);
        }

        public Options(int epochs, int batch, int accumulate, float lr, float weightDecay, float warmupFraction, double clipNorm, long seed) {
            this(epochs, batch, accumulate, lr, weightDecay, warmupFraction, clipNorm, seed, null);
        }

        /** These options with each batch as {@code parts} micro-batches. */
        public Options withMicroBatches(int parts) {
            return new Options(epochs, batch, accumulate, lr, weightDecay, warmupFraction, clipNorm, seed, adversarial, parts);
        }
    }

    /**
     * Adversarial training in embedding space, FreeLB (Zhu et al. 2020, Algorithm 1): per batch a perturbation δ of the
     * summed embeddings [batch·seq, hidden], started uniform at {@code initMagnitude} / sqrt(tokens · hidden) per
     * sequence (0 on padding), takes {@code steps} ascent steps δ += stepSize · g / ‖g‖ (each sequence's Frobenius norm),
     * projected into ‖δ‖ ≤ {@code maxNorm} (0: no bound); the parameters' gradients of the {@code steps} losses are
     * averaged and make one update.
     */
    public record FreeLb(int steps, float stepSize, float maxNorm, float initMagnitude) {
        public FreeLb {
            if (steps < 1) throw new IllegalArgumentException("FreeLB needs at least 1 ascent step, has " + steps);
            if (!(stepSize > 0 && stepSize < Float.POSITIVE_INFINITY) || !(maxNorm >= 0 && maxNorm < Float.POSITIVE_INFINITY) || !(initMagnitude >= 0 && initMagnitude < Float.POSITIVE_INFINITY)) {
                throw new IllegalArgumentException("FreeLB's step size must be > 0, its bound and start >= 0, all finite: " + stepSize + ", " + maxNorm + ", " + initMagnitude);
            }
        }
    }

    private TextTrainer() {}

    /**
     * Trains {@code model} on {@code ids} with {@code labels}; returns each epoch's mean loss. {@code progress} hears one line per epoch.
     * With the encoder frozen (the head alone) and no adversarial training, the encoder's pooled vectors are computed once
     * and the head trains on them ({@link #fitOnPooled}): the same batches, schedule and updates, one encoder pass a sequence
     * instead of one an epoch.
     */
    public static double[] fit(Backend backend, BertClassifier model, int[][] ids, int[] labels, Options o, Consumer<String> progress) {
        return fit(backend, model, ids, labels, o, progress, Trainer.Listener.NONE);
    }

    /** {@link #fit(Backend, BertClassifier, int[][], int[], Options, Consumer)}, {@code steps} hearing each step and epoch (a progress bar). */
    public static double[] fit(Backend backend, BertClassifier model, int[][] ids, int[] labels, Options o, Consumer<String> progress, Trainer.Listener steps) {
        if (ids.length != labels.length || ids.length == 0) throw new IllegalArgumentException(ids.length + " sequences for " + labels.length + " labels");
        if (o.adversarial() == null && model.bert().parameterCount(true) == 0) {
            return fitOnPooled(backend, model, EvaluateText.pooled(backend, model, ids, 32), ids, labels, o, progress, steps);
        }
        return fitThroughEncoder(backend, model, ids, labels, o, progress, steps);
    }

    /** {@link #fit}'s loop with every batch through the encoder, whatever trains. */
    static double[] fitThroughEncoder(Backend backend, BertClassifier model, int[][] ids, int[] labels, Options o, Consumer<String> progress, Trainer.Listener steps) {
        if (ids.length != labels.length || ids.length == 0) throw new IllegalArgumentException(ids.length + " sequences for " + labels.length + " labels");
        SplittableRandom perturbations = new SplittableRandom(o.seed() ^ 0x5DEECE66DL); // FreeLB's own, so batches come in the same order with or without it
        try (Arena state = Arena.ofShared(); Workspace ws = new Workspace();
                MicroBatches parts = new MicroBatches(backend, o.microBatches(), o.seed())) {
            Map<Tensor, PackedLinearWeights> packs = frozenProjectionPacks(backend, model, state);
            return epochs(backend, model, ids, o, progress, steps, state, members -> {
                if (o.adversarial() == null) return batchStep(parts, model, packs, ids, labels, members);
                try (Arena step = Arena.ofConfined()) {
                    int[][] seqs = new int[members.length][];
                    Tensor y = Tensor.zeros(step, DType.I32, members.length);
                    for (int b = 0; b < members.length; b++) {
                        seqs[b] = ids[members[b]];
                        y.setInt(b, labels[members[b]]);
                    }
                    return freeLb(backend, model, packs, ws, step, TokenBatch.of(step, seqs, null), seqs, y, o.adversarial(), perturbations) * members.length;
                }
            });
        }
    }

    /**
     * {@link #fit} for the head alone on the frozen encoder's pooled vectors {@code pooled} [n][hidden] of {@code ids}
     * (whose lengths make the same length-bucketed batches as {@link #fit}): per batch the head's forward and backward on
     * one tape, then the same clipping and AdamW update. The encoder must be frozen: its vectors would not change.
     */
    public static double[] fitOnPooled(Backend backend, BertClassifier model, float[][] pooled, int[][] ids, int[] labels, Options o, Consumer<String> progress) {
        return fitOnPooled(backend, model, pooled, ids, labels, o, progress, Trainer.Listener.NONE);
    }

    /** {@link #fitOnPooled(Backend, BertClassifier, float[][], int[][], int[], Options, Consumer)}, {@code steps} hearing each step and epoch. */
    public static double[] fitOnPooled(Backend backend, BertClassifier model, float[][] pooled, int[][] ids, int[] labels, Options o, Consumer<String> progress,
            Trainer.Listener steps) {
        if (ids.length != labels.length || pooled.length != labels.length || ids.length == 0) {
            throw new IllegalArgumentException(pooled.length + " pooled vectors and " + ids.length + " sequences for " + labels.length + " labels");
        }
        if (model.bert().parameterCount(true) > 0) throw new IllegalArgumentException("training on pooled vectors needs a frozen encoder; this one has parameters to train");
        int hidden = model.bert().config().hidden();
        try (Arena state = Arena.ofShared()) {
            return epochs(backend, model, ids, o, progress, steps, state, members -> {
                try (Arena step = Arena.ofConfined(); Tape t = new Tape(backend, true)) {
                    float[][] rows = new float[members.length][];
                    Tensor y = Tensor.zeros(step, DType.I32, members.length);
                    for (int b = 0; b < members.length; b++) {
                        rows[b] = pooled[members[b]];
                        if (rows[b].length != hidden) throw new IllegalArgumentException("pooled vector " + members[b] + " has " + rows[b].length + " values, the encoder " + hidden);
                        y.setInt(b, labels[members[b]]);
                    }
                    Var l = t.crossEntropy(model.head(t, t.input(Tensor.ofRows(step, rows).copy(step, backend.memory()), false)), y, 0f);
                    t.backward(l);
                    return l.value().getFloat(0) * members.length;
                }
            });
        }
    }

    /** One batch's forward and backward, its parameters' gradients added; returns its summed loss (the mean times its size). */
    @FunctionalInterface
    private interface BatchLoss {
        double run(int[] members);
    }

    /**
     * The epochs both fits share: each epoch's length-bucketed batches ({@link #bucketed}, seeded by {@code o.seed()}),
     * an AdamW update (in {@code state}) after every {@code o.accumulate()} batches with the warmup-linear rate and
     * clipping; returns each epoch's mean loss and tells {@code progress}, and {@code steps} each batch (its mean loss,
     * sequences a second) and each epoch (before {@code progress}'s line: a progress bar closes first).
     */
    private static double[] epochs(Backend backend, BertClassifier model, int[][] ids, Options o, Consumer<String> progress, Trainer.Listener steps, Arena state,
            BatchLoss batch) {
        SplittableRandom rng = new SplittableRandom(o.seed());
        long updatesPerEpoch = (batches(ids.length, o.batch()) + o.accumulate() - 1) / o.accumulate(), total = updatesPerEpoch * o.epochs();
        LrSchedule lr = LrSchedule.warmupLinear(o.lr(), (long) (o.warmupFraction() * total), total);
        double[] losses = new double[o.epochs()];
        model.train(true);
        try {
            AdamW opt = AdamW.of(state, model.namedParameters(), o.weightDecay(), 1f);
            long update = 0;
            for (int epoch = 0; epoch < o.epochs(); epoch++) {
                List<int[]> plan = bucketed(ids, o.batch(), rng);
                double sum = 0;
                long epochStart = System.nanoTime();
                for (int s = 0; s < plan.size(); s++) {
                    long t0 = System.nanoTime();
                    double loss = batch.run(plan.get(s));
                    sum += loss;
                    if ((s + 1) % o.accumulate() == 0 || s == plan.size() - 1) {
                        if (o.clipNorm() > 0) GradClip.clipGlobalNorm(backend, opt.parameters().values(), o.clipNorm());
                        opt.step(backend, lr.lr(update++));
                    }
                    int n = plan.get(s).length;
                    steps.onStep(epoch, s, plan.size(), (float) (loss / n), n / Math.max(1e-9, (System.nanoTime() - t0) / 1e9));
                }
                losses[epoch] = sum / ids.length;
                steps.onEpoch(epoch, losses[epoch], Double.NaN, (System.nanoTime() - epochStart) / 1e9);
                progress.accept(String.format("epoch %d/%d: loss %.4f", epoch + 1, o.epochs(), losses[epoch]));
            }
        } finally {
            model.train(false);
        }
        return losses;
    }

    /**
     * The frozen projections and LoRA bases packed for a training step's tapes ({@link Tape#packedWeights}), or none:
     * their products on AMX tiles where the CPU has them (BertModel.packFrozenProjections: MiniLM's LoRA step
     * 1.18-1.25x faster for the projections, BENCHMARKS.md, thirty-seventh session, and 1.02-1.04x more for the LoRA
     * bases, thirty-eighth), for 16 bytes more a frozen weight; only where gradients flow through them to something
     * trained in the encoder (LoRA), not for the head alone.
     */
    public static Map<Tensor, PackedLinearWeights> frozenProjectionPacks(Backend backend, BertClassifier model, Arena arena) {
        boolean encoderTrains = model.bert().parameterCount(true) > 0;
        return backend instanceof CpuBackend && CpuBackend.linearAmx() && encoderTrains ? model.bert().packFrozenProjections(arena) : Map.of();
    }

    /** One batch's forward and backward as micro-batches ({@link MicroBatches#step(int, MicroBatches.SliceLoss)}); returns its summed loss. */
    private static double batchStep(MicroBatches parts, BertClassifier model, Map<Tensor, PackedLinearWeights> packs, int[][] ids, int[] labels, int[] members) {
        return parts.step(members.length, (t, from, to) -> {
            t.packedWeights(packs);
            int[][] seqs = new int[to - from][];
            Tensor y = Tensor.zeros(t.arena(), DType.I32, to - from);
            for (int b = from; b < to; b++) {
                seqs[b - from] = ids[members[b]];
                y.setInt(b - from, labels[members[b]]);
            }
            return t.crossEntropy(model.logits(t, TokenBatch.of(t.arena(), seqs, null)), y, 0f);
        });
    }

    /**
     * One batch of FreeLB (see {@link FreeLb}), each ascent step on a tape of its own. Returns the mean of the steps' losses.
     */
    private static double freeLb(Backend backend, BertClassifier model, Map<Tensor, PackedLinearWeights> packs, Workspace ws, Arena step, TokenBatch in, int[][] seqs, Tensor y, FreeLb f,
            SplittableRandom rng) {
        int hidden = model.bert().config().hidden(), seq = in.seq(), n = seqs.length;
        float[] delta = new float[n * seq * hidden];
        for (int b = 0; b < n; b++) {
            double mag = f.initMagnitude() / Math.sqrt((double) seqs[b].length * hidden);
            for (int i = 0; i < seqs[b].length * hidden; i++) delta[b * seq * hidden + i] = (float) (mag * (2 * rng.nextDouble() - 1));
        }
        Tensor hostDelta = Tensor.zeros(step, DType.F32, (long) n * seq, hidden), hostGrad = Tensor.zeros(step, DType.F32, (long) n * seq, hidden);
        Tensor dev = backend.memory().zeros(step, DType.F32, (long) n * seq, hidden);
        double loss = 0;
        for (int k = 0; k < f.steps(); k++) {
            try (Tape t = new Tape(backend, true, true, ws).packedWeights(packs)) {
                hostDelta.segment().copyFrom(java.lang.foreign.MemorySegment.ofArray(delta));
                dev.copyFrom(hostDelta);
                Var d = t.input(dev, true);
                Var l = t.crossEntropy(model.logits(t, in, d), y, 0f);
                loss += l.value().getFloat(0) / f.steps();
                t.backward(l, 1f / f.steps());
                if (k == f.steps() - 1) break; // the last step's perturbation is not used
                hostGrad.copyFrom(d.grad());
                float[] g = hostGrad.toFloatArray();
                for (int b = 0; b < n; b++) {
                    int from = b * seq * hidden, to = from + seqs[b].length * hidden;
                    double gn = 0, dn = 0;
                    for (int i = from; i < to; i++) gn += (double) g[i] * g[i];
                    gn = Math.sqrt(gn);
                    if (gn > 0) for (int i = from; i < to; i++) delta[i] += (float) (f.stepSize() * g[i] / gn);
                    for (int i = from; i < to; i++) dn += (double) delta[i] * delta[i];
                    dn = Math.sqrt(dn);
                    if (f.maxNorm() > 0 && dn > f.maxNorm()) for (int i = from; i < to; i++) delta[i] *= (float) (f.maxNorm() / dn);
                }
            }
        }
        return loss;
    }

    private static long batches(int n, int batch) {
        return (n + batch - 1) / batch;
    }

    /** Batches of indices into {@code ids}: shuffled, sorted by length within pools of 50 batches, batch order shuffled. */
    static List<int[]> bucketed(int[][] ids, int batch, SplittableRandom rng) {
        List<Integer> order = new ArrayList<>();
        for (int i = 0; i < ids.length; i++) order.add(i);
        Collections.shuffle(order, rng);
        List<int[]> out = new ArrayList<>();
        int pool = 50 * batch;
        for (int from = 0; from < order.size(); from += pool) {
            List<Integer> p = new ArrayList<>(order.subList(from, Math.min(order.size(), from + pool)));
            p.sort(Comparator.comparingInt(i -> ids[i].length));
            for (int b = 0; b < p.size(); b += batch) out.add(p.subList(b, Math.min(p.size(), b + batch)).stream().mapToInt(Integer::intValue).toArray());
        }
        Collections.shuffle(out, rng);
        return out;
    }

    /** Trains the head alone on cached pooled vectors [n][hidden] (a linear probe): full-batch AdamW for {@code epochs}, a constant rate. */
    public static void fitHead(Backend backend, BertClassifier model, float[][] pooled, int[] labels, int epochs, float lr, float weightDecay) {
        if (pooled.length != labels.length || pooled.length == 0) throw new IllegalArgumentException(pooled.length + " vectors for " + labels.length + " labels");
        try (Arena state = Arena.ofShared()) {
            Tensor x = Tensor.ofRows(state, pooled), y = Tensor.zeros(state, DType.I32, labels.length);
            for (int i = 0; i < labels.length; i++) y.setInt(i, labels[i]);
            var head = new java.util.LinkedHashMap<String, org.tune4j.autograd.Parameter>();
            model.namedParameters().forEach((name, p) -> {
                if (name.startsWith("classifier.")) head.put(name, p);
            });
            AdamW opt = AdamW.of(state, head, weightDecay, 1f);
            for (int e = 0; e < epochs; e++) {
                try (Tape t = new Tape(backend, true)) {
                    t.backward(t.crossEntropy(model.head(t, t.input(x, false)), y, 0f));
                }
                opt.step(backend, lr);
            }
        }
    }
}
