package org.tune4j.backend;

import java.util.List;
import org.tune4j.tensor.Tensor;

/**
 * The op table's ops a recorded step runs where the backend computes (Backend.record: the loss and the clipping kept
 * there, labels there too, the ViT's patch gather and tokens, PGD, AdamW on a schedule tensor); see {@link OpTable}.
 * StepOpsTest holds the host's to their definitions written out.
 */
final class OpTableSteps {
    private OpTableSteps() {}

    static List<Op> all() {
        return List.of(CROSS_ENTROPY_LOSS, CLIP_GRAD_NORM, GATHER_COLUMNS, VIT_TOKENS, PGD_STEP, ADAMW_SCHEDULED);
    }

    private static final long[][] STEP_SHAPES = {{1, 3}, {7, 33}, {64, 10}, {33, 257}};

    static final Op CROSS_ENTROPY_LOSS = Op.of("crossEntropyLoss", STEP_SHAPES, (be, in, out, s) -> {
        Tensor probs = in.zeros(s), loss = in.zeros(1);
        be.crossEntropyLoss(in.random(s), in.indices((int) s[1], s[0]), 0.1f, probs, loss);
        out.expect("loss, labels where the backend computes", loss, 1e-5);
        out.expect("probabilities", probs, 2e-6);
    }).refusing((be, in) -> be.crossEntropyLoss(in.random(2, 3), in.indices(3, 2), 0f, in.zeros(2, 3), in.zeros(2)));

    /** Clipped (max 0.5) and left alone (max 10⁴): the norm written where the backend computes. */
    static final Op CLIP_GRAD_NORM = Op.of("clipGradNorm", STEP_SHAPES, (be, in, out, s) -> {
        for (float max : new float[] {0.5f, 1e4f}) {
            Tensor g1 = in.random(s), g2 = in.random(5), norm = in.zeros(1);
            be.clipGradNorm(new Tensor[] {g1, g2}, max, norm);
            out.expect("norm, max " + max, norm, 1e-5);
            out.expect("a matrix's gradient, max " + max, g1, 1e-6);
            out.expect("a vector's gradient, max " + max, g2, 1e-6);
        }
    }).refusing((be, in) -> be.clipGradNorm(new Tensor[] {in.random(2, 3), null}, 1f, in.zeros(1)));

    /**
     * y[i, j] = x[i, index[j]] from a strided x into a strided y, index in the backend's memory (a permutation; one out
     * of range there is not seen by the host: the CUDA kernel writes NaN, StepOpsTest has the host's refusal).
     */
    static final Op GATHER_COLUMNS = Op.of("gatherColumns", STEP_SHAPES, (be, in, out, s) -> {
        int[] index = new int[(int) s[1]];
        for (int j = 0; j < index.length; j++) index[j] = (int) ((7L * j + 3) % s[1]);
        Tensor yWhole = in.random(s[0] + 2, s[1] + 5);
        be.gatherColumns(in.strided(s[0], s[1]), in.ints(index), yWhole.view(1, 3, s[0], s[1]));
        out.expect("y (the rest untouched)", yWhole, 0);
    }).refusing((be, in) -> be.gatherColumns(in.random(2, 3), in.ints(0, 2, 1), in.zeros(2, 4)));

    /** batch m sequences of 2 patches, n wide: [cls; patches] + positions. */
    static final Op VIT_TOKENS = Op.of("vitTokens", STEP_SHAPES, (be, in, out, s) -> {
        Tensor tokens = in.random(3 * s[0], s[1]);
        be.vitTokens(in.random(2 * s[0], s[1]), in.random(1, s[1]), in.random(3, s[1]), (int) s[0], tokens);
        out.expect("tokens", tokens, 0);
    }).refusing((be, in) -> be.vitTokens(in.random(4, 3), in.random(1, 3), in.random(3, 3), 3, in.zeros(9, 3)));

    /** Images in [0, 1): a signed-gradient step, projected onto the eps ball and into [0, 1]. */
    static final Op PGD_STEP = Op.of("pgdStep", STEP_SHAPES, (be, in, out, s) -> {
        Tensor orig = in.unit(s), adv = in.unit(s);
        be.pgdStep(adv, in.random(s), orig, 0.05f, 0.1f);
        out.expect("adversarial images", adv, 0);
    }).refusing((be, in) -> be.pgdStep(in.unit(2, 3), in.random(5), in.unit(2, 3), 0.05f, 0.1f));

    /** AdamW at the rate and step a schedule tensor [lr, step] holds, where the backend computes. */
    static final Op ADAMW_SCHEDULED = Op.of("adamwStep (scheduled)", STEP_SHAPES, (be, in, out, s) -> {
        Tensor p = in.random(s), m = in.random(s), v = in.unit(s);
        be.adamwStep(p, in.random(s), m, v, in.of(1e-2f, 3f), 2f, 0.9f, 0.999f, 1e-8f, 0.01f);
        out.expect("parameters", p, 1e-6);
        out.expect("first moments", m, 1e-6);
        out.expect("second moments", v, 1e-6);
    }).refusing((be, in) -> be.adamwStep(in.random(2, 3), in.random(2, 3), in.zeros(2, 3), in.zeros(2, 3), in.of(1e-2f), 1f, 0.9f, 0.999f, 1e-8f, 0f));
}
