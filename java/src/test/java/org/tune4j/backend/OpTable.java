package org.tune4j.backend;

import static org.tune4j.backend.Op.dot;

import java.util.ArrayList;
import java.util.List;
import org.tune4j.backend.Op.GradientCheck;
import org.tune4j.tensor.Tensor;

/**
 * The op table: every Backend op as one {@link Op}, run by BackendOpsTest on every backend present (the
 * reference is the oracle; the CPU at each SIMD level; CUDA, or the emulator). Adding an op means adding a
 * case here. Elementwise ops take tensors of one size whatever their shapes (BackendChecks.sameSize), so a malformed
 * call differs in size. Tolerances are relative, |e - a| ≤ tol · (1 + |e|); sums of k terms take a tolerance growing with k.
 * This file: element-wise and row ops, normalization, losses, optimizers; {@link OpTableSequences}: GEMM,
 * LoRA, attention, embeddings and the recorded step's ops.
 */
final class OpTable {
    private OpTable() {}

    /** m x n: one element, a vector's tail, a column, thin and tall, wider than a tile. */
    static final long[][] ROWS = {{1, 1}, {1, 17}, {3, 33}, {17, 3}, {33, 257}, {257, 10}, {5, 1000}};
    private static final long[][] SMALL = {{3, 5}};

    static List<Op> all() {
        List<Op> ops = new ArrayList<>(List.of(ADD, AXPY, SCALE, ADD_ROW, MUL_ROW, LOW_RANK_ADD, SUM_ROWS, SUM_ROWS_PRODUCT, ROW_SQUARES, SUM_SQUARES,
                GELU, RELU, SOFTMAX, LOG_SOFTMAX, LAYER_NORM, ADD_LAYER_NORM, CROSS_ENTROPY, ADAMW, SGD));
        ops.addAll(OpTableSequences.all());
        return ops;
    }

    static final Op ADD = Op.of("add", ROWS, (be, in, out, s) -> {
        Tensor y = in.random(s);
        be.add(in.random(s), in.random(s), y);
        out.expect("y", y, 0);
    }).refusing((be, in) -> be.add(in.random(2, 3), in.random(2, 4), in.zeros(2, 3)));

    static final Op AXPY = Op.of("axpy", ROWS, (be, in, out, s) -> {
        Tensor y = in.random(s);
        be.axpy(-0.5f, in.random(s), y);
        out.expect("y", y, 1e-6);
    }).refusing((be, in) -> be.axpy(1f, in.random(2, 3), in.zeros(2, 4)));

    static final Op SCALE = Op.of("scale", ROWS, (be, in, out, s) -> {
        Tensor y = in.random(s);
        be.scale(1.5f, y);
        out.expect("y", y, 1e-7);
    }).refusing((be, in) -> be.scale(1f, null));

    static final Op ADD_ROW = Op.of("addRow", ROWS, (be, in, out, s) -> {
        Tensor y = in.random(s);
        be.addRow(in.random(s[1]), y);
        out.expect("y", y, 1e-6);
    }).refusing((be, in) -> be.addRow(in.random(4), in.zeros(2, 3)));

    static final Op MUL_ROW = Op.of("mulRow", ROWS, (be, in, out, s) -> {
        Tensor y = in.random(s);
        be.mulRow(in.random(s[1]), y);
        out.expect("y", y, 1e-6);
    }).refusing((be, in) -> be.mulRow(in.random(2), in.zeros(2, 3)));

    /** y += scale · h · bt, rank 1, 3 and 8, into a view whose row stride is beyond n (the padding must stay untouched). */
    static final Op LOW_RANK_ADD = Op.of("lowRankAdd", ROWS, (be, in, out, s) -> {
        for (int r : new int[] {1, 3, 8}) {
            Tensor whole = in.random(s[0], s[1] + 5);
            be.lowRankAdd(in.random(s[0], r), in.random(r, s[1]), 0.75f, whole.view(0, 0, s[0], s[1]));
            out.expect("y, rank " + r, whole, 2e-6 * (r + 8));
        }
    }).refusing((be, in) -> be.lowRankAdd(in.random(2, 3), in.random(4, 5), 1f, in.zeros(2, 5)));

    static final Op SUM_ROWS = Op.of("sumRows", ROWS, (be, in, out, s) -> {
        Tensor sum = in.random(s[1]);
        be.sumRows(in.random(s), sum);
        out.expect("sum", sum, 2e-6 * (s[0] + 8));
    }).refusing((be, in) -> be.sumRows(in.random(2, 3), in.zeros(2)));

    static final Op SUM_ROWS_PRODUCT = Op.of("sumRowsProduct", ROWS, (be, in, out, s) -> {
        Tensor sum = in.random(s[1]);
        be.sumRowsProduct(in.random(s), in.random(s), sum);
        out.expect("sum", sum, 2e-6 * (s[0] + 8));
    }).refusing((be, in) -> be.sumRowsProduct(in.random(2, 3), in.random(3, 2), in.zeros(3)));

    static final Op ROW_SQUARES = Op.of("rowSquares", ROWS, (be, in, out, s) -> {
        Tensor sq = in.zeros(s[0]);
        be.rowSquares(in.random(s), sq);
        out.expect("squares", sq, 2e-6 * (s[1] + 8));
    }).refusing((be, in) -> be.rowSquares(in.random(2, 3), in.zeros(3)));

    static final Op SUM_SQUARES = Op.of("sumSquares", ROWS, (be, in, out, s) -> {
        out.expect("sum", be.sumSquares(in.random(s)), 1e-5);
    }).refusing((be, in) -> be.sumSquares(null));

    static final Op GELU = Op.of("gelu", ROWS, (be, in, out, s) -> {
        for (boolean exact : new boolean[] {false, true}) {
            Tensor x = in.random(s), y = in.zeros(s), dx = in.random(s);
            be.geluForward(x, y, exact);
            Tensor dy = in.random(s), written = in.filled(Float.NaN, s); // the writing form never reads what it writes over
            be.geluBackward(x, dy, dx, exact);
            be.geluBackward(x, dy, written, exact, false);
            out.expect("y, exact " + exact, y, 2e-6);
            out.expect("dx += dy ⊙ gelu'(x), exact " + exact, dx, 2e-6);
            out.expect("dx = dy ⊙ gelu'(x), exact " + exact, written, 2e-6);
        }
    }).refusing((be, in) -> be.geluForward(in.random(2, 3), in.zeros(3, 3), true)).withGradient((ref, in) -> {
        List<GradientCheck> checks = new ArrayList<>();
        for (boolean exact : new boolean[] {false, true}) {
            Tensor x = in.random(SMALL[0]), g = in.random(SMALL[0]), y = in.zeros(SMALL[0]), dx = in.zeros(SMALL[0]);
            ref.geluBackward(x, g, dx, exact);
            checks.add(new GradientCheck("dx, exact " + exact, x, dx, () -> {
                ref.geluForward(x, y, exact);
                return dot(y, g);
            }));
        }
        return checks;
    });

    static final Op RELU = Op.of("relu", ROWS, (be, in, out, s) -> {
        Tensor x = in.random(s), y = in.zeros(s), dx = in.random(s);
        be.reluForward(x, y);
        be.reluBackward(x, in.random(s), dx);
        out.expect("y", y, 0);
        out.expect("dx", dx, 0);
    }).refusing((be, in) -> be.reluBackward(in.random(2, 3), in.random(2, 3), in.zeros(2, 2))).withGradient((ref, in) -> {
        Tensor x = in.random(SMALL[0]), g = in.random(SMALL[0]), y = in.zeros(SMALL[0]), dx = in.zeros(SMALL[0]);
        ref.reluBackward(x, g, dx);
        return List.of(new GradientCheck("dx", x, dx, () -> {
            ref.reluForward(x, y);
            return dot(y, g);
        }));
    });

    static final Op SOFTMAX = Op.of("softmax", ROWS, (be, in, out, s) -> {
        Tensor y = in.zeros(s), dx = in.random(s);
        be.softmaxForward(in.random(s), y);
        be.softmaxBackward(y, in.random(s), dx);
        out.expect("y", y, 2e-6);
        out.expect("dx", dx, 2e-6 * (s[1] + 8));
    }).refusing((be, in) -> be.softmaxForward(in.random(2, 3), in.zeros(2, 4))).withGradient((ref, in) -> {
        Tensor x = in.random(SMALL[0]), g = in.random(SMALL[0]), y = in.zeros(SMALL[0]), dx = in.zeros(SMALL[0]);
        ref.softmaxForward(x, y);
        ref.softmaxBackward(y, g, dx);
        return List.of(new GradientCheck("dx", x, dx, () -> {
            ref.softmaxForward(x, y);
            return dot(y, g);
        }));
    });

    static final Op LOG_SOFTMAX = Op.of("logSoftmax", ROWS, (be, in, out, s) -> {
        Tensor y = in.zeros(s), dx = in.random(s);
        be.logSoftmaxForward(in.random(s), y);
        be.logSoftmaxBackward(y, in.random(s), dx);
        out.expect("y", y, 2e-6);
        out.expect("dx", dx, 2e-6 * (s[1] + 8));
    }).refusing((be, in) -> be.logSoftmaxForward(in.random(2, 3), in.zeros(2, 4))).onDevicesRunsOnTheHost().withGradient((ref, in) -> {
        Tensor x = in.random(SMALL[0]), g = in.random(SMALL[0]), y = in.zeros(SMALL[0]), dx = in.zeros(SMALL[0]);
        ref.logSoftmaxForward(x, y);
        ref.logSoftmaxBackward(y, g, dx);
        return List.of(new GradientCheck("dx", x, dx, () -> {
            ref.logSoftmaxForward(x, y);
            return dot(y, g);
        }));
    });

    static final Op LAYER_NORM = Op.of("layerNorm", ROWS, (be, in, out, s) -> {
        Tensor x = in.random(s), gamma = in.random(s[1]), beta = in.random(s[1]), y = in.zeros(s), mean = in.zeros(s[0]), rstd = in.zeros(s[0]);
        be.layerNormForward(x, gamma, beta, 1e-5f, y, mean, rstd);
        out.expect("y", y, 5e-5 * Math.sqrt(s[1]));
        out.expect("rstd", rstd, 5e-5);
        Tensor dx = in.random(s), dgamma = in.random(s[1]), dbeta = in.random(s[1]), dy = in.random(s);
        be.layerNormBackward(x, gamma, mean, rstd, dy, dx, dgamma, dbeta);
        out.expect("dx", dx, 1e-4 * Math.sqrt(s[1]));
        out.expect("dgamma", dgamma, 2e-6 * (s[0] + 8));
        out.expect("dbeta", dbeta, 2e-6 * (s[0] + 8));
        Tensor written = in.filled(Float.NaN, s); // dx written, never read; dgamma and dbeta still added into
        be.layerNormBackward(x, gamma, mean, rstd, dy, written, dgamma, dbeta, false);
        out.expect("dx written", written, 1e-4 * Math.sqrt(s[1]));
        out.expect("dgamma, added twice", dgamma, 4e-6 * (s[0] + 8));
    }).refusing((be, in) -> be.layerNormForward(in.random(2, 3), in.random(4), in.random(3), 1e-5f, in.zeros(2, 3), in.zeros(2), in.zeros(2)))
            .withGradient((ref, in) -> {
                long[] s = SMALL[0];
                Tensor x = in.random(s), gamma = in.random(s[1]), beta = in.random(s[1]), g = in.random(s), y = in.zeros(s), mean = in.zeros(s[0]), rstd = in.zeros(s[0]);
                Tensor dx = in.zeros(s), dgamma = in.zeros(s[1]), dbeta = in.zeros(s[1]);
                ref.layerNormForward(x, gamma, beta, 1e-5f, y, mean, rstd);
                ref.layerNormBackward(x, gamma, mean, rstd, g, dx, dgamma, dbeta);
                java.util.function.DoubleSupplier loss = () -> {
                    ref.layerNormForward(x, gamma, beta, 1e-5f, y, mean, rstd);
                    return dot(y, g);
                };
                return List.of(new GradientCheck("dx", x, dx, loss), new GradientCheck("dgamma", gamma, dgamma, loss), new GradientCheck("dbeta", beta, dbeta, loss));
            });

    /** LayerNorm of a sum: the fused op gives the bits of its add then LayerNorm on the same backend, in place over either input too. */
    static final Op ADD_LAYER_NORM = Op.of("addLayerNormForward", ROWS, (be, in, out, s) -> {
        Tensor x = in.random(s), r = in.random(s), gamma = in.random(s[1]), beta = in.random(s[1]);
        Tensor sum = in.zeros(s), apart = in.zeros(s), fused = in.zeros(s), mean = in.zeros(s[0]), rstd = in.zeros(s[0]), fusedRstd = in.zeros(s[0]);
        be.add(x, r, sum);
        be.layerNormForward(sum, gamma, beta, 1e-5f, apart, mean, rstd);
        be.addLayerNormForward(x, r, gamma, beta, 1e-5f, fused, mean, fusedRstd);
        out.expect("y", fused, 5e-5 * Math.sqrt(s[1]));
        out.expectSameBits("y against add then layerNorm", apart, fused);
        out.expectSameBits("rstd against add then layerNorm", rstd, fusedRstd);
        Tensor intoX = in.zeros(s), intoR = in.zeros(s);
        intoX.copyFrom(x);
        intoR.copyFrom(r);
        be.addLayerNormForward(intoX, r, gamma, beta, 1e-5f, intoX, mean, rstd);
        be.addLayerNormForward(x, intoR, gamma, beta, 1e-5f, intoR, mean, rstd);
        out.expectSameBits("y written over x", apart, intoX);
        out.expectSameBits("y written over r", apart, intoR);
    }).refusing((be, in) -> be.addLayerNormForward(in.random(2, 3), in.random(3, 2), in.random(3), in.random(3), 1e-5f, in.zeros(2, 3), in.zeros(2), in.zeros(2)));

    /** Labels on the host: the CUDA backend stages them (CudaBackend.crossEntropyForward). */
    static final Op CROSS_ENTROPY = Op.of("crossEntropy", ROWS, (be, in, out, s) -> {
        Tensor logits = in.random(s), labels = in.hostIndices((int) s[1], s[0]);
        for (float smoothing : new float[] {0f, 0.1f}) {
            Tensor probs = in.zeros(s), dlogits = in.random(s);
            out.expect("loss, smoothing " + smoothing, be.crossEntropyForward(logits, labels, smoothing, probs), 1e-5);
            be.crossEntropyBackward(probs, labels, smoothing, 0.75f, dlogits);
            out.expect("probabilities, smoothing " + smoothing, probs, 2e-6);
            out.expect("dlogits, smoothing " + smoothing, dlogits, 1e-6);
        }
    }).refusing((be, in) -> be.crossEntropyForward(in.random(2, 3), in.hostInts(0, 1, 2), 0f, in.zeros(2, 3))).withGradient((ref, in) -> {
        List<GradientCheck> checks = new ArrayList<>();
        Tensor logits = in.random(4, 6), probs = in.zeros(4, 6), labels = in.hostInts(0, 5, 4, 3);
        for (float smoothing : new float[] {0f, 0.2f}) {
            Tensor d = in.zeros(4, 6);
            ref.crossEntropyForward(logits, labels, smoothing, probs);
            ref.crossEntropyBackward(probs, labels, smoothing, 1.5f, d);
            checks.add(new GradientCheck("dlogits, smoothing " + smoothing, logits, d, () -> 1.5 * ref.crossEntropyForward(logits, labels, smoothing, probs)));
        }
        return checks;
    });

    /** Three steps from random moments (second moments non-negative). */
    static final Op ADAMW = Op.of("adamwStep", ROWS, (be, in, out, s) -> {
        Tensor p = in.random(s), m = in.random(s), v = in.unit(s);
        for (long step = 1; step <= 3; step++) be.adamwStep(p, in.random(s), m, v, 1e-2f, 0.9f, 0.999f, 1e-8f, 0.01f, step);
        out.expect("parameters", p, 1e-6);
        out.expect("first moments", m, 1e-6);
        out.expect("second moments", v, 1e-6);
    }).refusing((be, in) -> be.adamwStep(in.random(2, 3), in.random(2, 3), in.zeros(2, 3), in.zeros(2, 4), 1e-2f, 0.9f, 0.999f, 1e-8f, 0f, 1));

    /** Three steps with momentum, the second Nesterov's, the first filling the buffer. */
    static final Op SGD = Op.of("sgdStep", ROWS, (be, in, out, s) -> {
        Tensor p = in.random(s), buf = in.zeros(s);
        for (int step = 0; step < 3; step++) be.sgdStep(p, in.random(s), buf, 0.1f, 0.9f, 0f, 1e-4f, step == 1, step == 0);
        out.expect("parameters", p, 1e-5);
        out.expect("momentum", buf, 1e-5);
    }).refusing((be, in) -> be.sgdStep(in.random(2, 3), in.random(2, 4), in.zeros(2, 3), 0.1f, 0.9f, 0f, 0f, false, true)).onDevicesRunsOnTheHost();
}
