package org.tune4j.backend;

import java.util.List;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * The op table's compressed-model ops: int8 rows, products and layers (dynamic, weight-only, sharing one quantized
 * input, 2:4, LoRA over an int8 base), magnitude and 2:4 masks, CSR and 2:4 sparse layers (see {@link OpTable}).
 * The weight structures (Int8Weights, CsrWeights, Sparse24Weights) live on the host; the CUDA backend has kernels
 * for int8 rows only and runs the rest on the host, counted. Int8ParityTest and SparseParityTest keep what is no
 * parity: saturation over long k, the quantization noise, -128 weights refused, ties in 2:4 masks, wide CSR rows.
 */
final class OpTableCompressed {
    private OpTableCompressed() {}

    static List<Op> all() {
        return List.of(QUANTIZE_ROWS, INT8_GEMM, INT8_LINEAR, INT8_LINEAR_SHARED, INT8_TWO_FOUR, LORA_INT8, MAGNITUDE_MASK, CSR, SPARSE24);
    }

    /** m, n, k: one element, vectors, tails, past a tile, MiniLM-like blocks. */
    static final long[][] INT8_SHAPES = {{1, 1, 1}, {1, 3, 17}, {3, 1, 33}, {17, 33, 1}, {33, 17, 3}, {1, 257, 33}, {257, 1, 17}, {7, 65, 130},
        {13, 130, 257}, {6, 64, 64}, {65, 100, 300}};

    /** Symmetric int8 rows (scale max|x| / 127), bit for bit, and back. */
    static final Op QUANTIZE_ROWS = Op.of("quantizeRows", OpTable.ROWS, (be, in, out, s) -> {
        Tensor x = in.random(s), q = in.zeros(DType.I8, s), scales = in.zeros(s[0]), back = in.zeros(s);
        be.quantizeRows(x, q, scales);
        be.dequantizeRows(q, scales, back);
        out.expect("q", q, 0);
        out.expect("scales", scales, 0);
        out.expect("dequantized", back, 0);
    }).refusing((be, in) -> be.quantizeRows(in.random(2, 3), in.zeros(2, 3), in.zeros(2)));

    /** c = a wᵀ in int32, exactly; activations hold -128. */
    static final Op INT8_GEMM = Op.of("int8Gemm", INT8_SHAPES, (be, in, out, s) -> {
        Int8Weights w = in.int8Weights(s[1], s[2]);
        Tensor c = in.zeros(DType.I32, s[0], s[1]);
        be.int8Gemm(in.int8(true, s[0], s[2]), w, c);
        out.expect("c", c, 0);
    }).refusing((be, in) -> be.int8Gemm(in.int8(false, 2, 5), in.int8Weights(3, 4), in.zeros(DType.I32, 2, 3))).onDevicesRunsOnTheHost();

    /**
     * The dynamic int8 layer (x quantized per row) and the weight-only one, each activation, with and without bias;
     * on the CPU the kernel's epilogue GELU gives the GELU op's bits on the plain output.
     */
    static final Op INT8_LINEAR = Op.of("int8Linear", INT8_SHAPES, (be, in, out, s) -> {
        long m = s[0], n = s[1], k = s[2];
        Tensor x = in.random(m, k), bias = in.random(n);
        Int8Weights w = in.int8Weights(n, k);
        for (Activation act : Activation.values())
            for (Tensor b : new Tensor[] {null, bias}) {
                String what = act + (b == null ? "" : ", bias");
                Tensor y = in.zeros(m, n), yw = in.zeros(m, n);
                be.int8Linear(x, w, b, act, y);
                be.int8WeightOnlyLinear(x, w, b, act, yw);
                out.expect("dynamic " + what, y, 1e-5);
                out.expect("weight-only " + what, yw, 2e-5 * Math.sqrt(k + 1));
                if ((act == Activation.GELU || act == Activation.GELU_ERF) && be instanceof CpuBackend) { // the CPU kernels' epilogue: the GELU op's code
                    Tensor plain = in.zeros(m, n);
                    be.int8Linear(x, w, b, Activation.NONE, plain);
                    be.geluForward(plain, plain, act == Activation.GELU_ERF);
                    out.expectSameBits(what + " against the GELU op", plain, y);
                }
            }
    }).refusing((be, in) -> be.int8Linear(in.random(2, 5), in.int8Weights(3, 4), null, Activation.NONE, in.zeros(2, 3))).onDevicesRunsOnTheHost();

    /** Three layers (65, 7 and 130 outputs, one without bias) over one quantized input: each gives its separate call's bits. */
    static final Op INT8_LINEAR_SHARED = Op.of("int8LinearShared", new long[][] {{19, 132}, {1, 5}, {40, 64}}, (be, in, out, s) -> {
        long m = s[0], k = s[1];
        long[] outs = {65, 7, 130};
        Tensor x = in.random(m, k);
        Int8Weights[] w = new Int8Weights[3];
        Tensor[] bias = new Tensor[3], y = new Tensor[3];
        for (int l = 0; l < 3; l++) {
            w[l] = in.int8Weights(outs[l], k);
            bias[l] = l == 1 ? null : in.random(outs[l]);
            y[l] = in.zeros(m, outs[l]);
        }
        for (Activation act : Activation.values()) {
            be.int8LinearShared(x, w, bias, act, y);
            for (int l = 0; l < 3; l++) {
                Tensor one = in.zeros(m, outs[l]);
                be.int8Linear(x, w[l], bias[l], act, one);
                out.expect(act + " layer " + l, y[l], 1e-5);
                out.expectSameBits(act + " layer " + l + " against its own call", one, y[l]);
            }
        }
    }).refusing((be, in) -> be.int8LinearShared(in.random(2, 4), new Int8Weights[] {in.int8Weights(3, 4), in.int8Weights(5, 4)}, new Tensor[2], Activation.NONE,
            new Tensor[] {in.zeros(2, 3)})).onDevicesRunsOnTheHost();

    /** m, n, k of 2:4 int8 weights: odd m and n, k with an odd number of groups of 4, panels of 64 split. */
    static final Op INT8_TWO_FOUR = Op.of("int8 2:4", new long[][] {{1, 1, 4}, {1, 3, 12}, {3, 65, 8}, {5, 17, 20}, {17, 130, 132}, {6, 64, 260}, {33, 7, 516}},
            (be, in, out, s) -> {
                Int8Weights w = in.int8TwoFour(s[1], s[2]);
                Tensor c = in.zeros(DType.I32, s[0], s[1]), x = in.random(s[0], s[2]), bias = in.random(s[1]);
                be.int8Gemm(in.int8(false, s[0], s[2]), w, c);
                out.expect("c", c, 0);
                for (Activation act : Activation.values()) {
                    Tensor y = in.zeros(s[0], s[1]);
                    be.int8Linear(x, w, bias, act, y);
                    out.expect("int8Linear " + act, y, 1e-5);
                }
            }).refusing((be, in) -> be.int8WeightOnlyLinear(in.random(1, 4), in.int8TwoFour(2, 4), null, Activation.NONE, in.zeros(1, 2))).onDevicesRunsOnTheHost();

    /** t, d_in, d_out, r; d_out above 256 crosses the backward's dequantization blocks. LoRA over a frozen int8 base, with and without dropout. */
    static final Op LORA_INT8 = Op.of("loraInt8", new long[][] {{1, 1, 1, 1}, {3, 17, 33, 2}, {17, 33, 3, 4}, {33, 64, 300, 16}, {9, 130, 65, 3}}, (be, in, out, s) -> {
        long t = s[0], dIn = s[1], dOut = s[2], r = s[3];
        double tol = 3e-6 * (dIn + dOut + r + 8);
        Int8Weights w = in.int8Weights(dOut, dIn);
        Tensor x = in.random(t, dIn), a = in.random(r, dIn), b = in.random(dOut, r), bias = in.random(dOut);
        for (boolean dropout : new boolean[] {false, true}) {
            Tensor mask = dropout ? in.mask(0.2, t, dIn) : null, h = in.zeros(t, r), y = in.zeros(t, dOut);
            be.loraInt8Forward(x, mask, w, bias, a, b, 0.5f, h, y);
            out.expect("h, dropout " + dropout, h, tol);
            out.expect("y, dropout " + dropout, y, tol);
            Tensor dx = in.random(t, dIn), da = in.random(r, dIn), db = in.random(dOut, r);
            be.loraInt8Backward(x, mask, w, a, b, 0.5f, h, in.random(t, dOut), dx, da, db);
            out.expect("dx, dropout " + dropout, dx, tol);
            out.expect("da, dropout " + dropout, da, tol * (t + 8) / 8);
            out.expect("db, dropout " + dropout, db, tol * (t + 8) / 8);
        }
    }).refusing((be, in) -> be.loraInt8Forward(in.random(2, 3), null, in.int8Weights(4, 3), null, in.random(2, 5), in.random(4, 2), 1f, in.zeros(2, 2), in.zeros(2, 4)))
            .onDevicesRunsOnTheHost();

    /**
     * m, n, k (k a multiple of 4 for 2:4; m the rows of x). m ≤ 4 takes the few-rows 2:4 kernel: the last ones span
     * several row tiles (64 rows) and group tiles (32 groups of 4) with partial ones, and vector steps with a tail.
     */
    static final long[][] SPARSE_SHAPES = {{1, 1, 4}, {1, 3, 16}, {3, 1, 32}, {2, 33, 20}, {5, 17, 36}, {17, 33, 4}, {33, 17, 68}, {16, 64, 256}, {47, 65, 132},
        {1, 129, 520}, {4, 70, 140}, {3, 200, 1028}};

    /** The threshold that prunes a fraction (0.5, 0.9) of w by magnitude, its mask, applied. */
    static final Op MAGNITUDE_MASK = Op.of("magnitudeMask", SPARSE_SHAPES, (be, in, out, s) -> {
        Tensor w = in.random(s[1], s[2]);
        for (double sparsity : new double[] {0.5, 0.9}) {
            float threshold = be.magnitudeThreshold(w, (long) (sparsity * s[1] * s[2]));
            Tensor mask = in.zeros(DType.I8, s[1], s[2]), pruned = in.zeros(s[1], s[2]);
            be.magnitudeMask(w, threshold, mask);
            pruned.copyFrom(w);
            be.applyMask(pruned, mask);
            out.expect("threshold, sparsity " + sparsity, threshold, 0);
            out.expect("mask, sparsity " + sparsity, mask, 0);
            out.expect("pruned, sparsity " + sparsity, pruned, 0);
        }
    }).refusing((be, in) -> be.magnitudeMask(in.random(2, 3), 0.5f, in.zeros(DType.I8, 3, 2))).onDevicesRunsOnTheHost();

    /**
     * The CSR layer of a weight pruned to 90% (strided x, each activation), its input gradient and its values' gradient;
     * and on each backend the same as its GEMM over the dense pruned weight, which no CSR structure built.
     */
    static final Op CSR = Op.of("csr", SPARSE_SHAPES, (be, in, out, s) -> {
        long m = s[0], n = s[1], k = s[2];
        double tol = 3e-6 * (k + 8);
        Tensor pruned = in.host(in.random(n, k));
        for (long i = 0; i < pruned.numel(); i++) if (in.nextInt(10) != 0) pruned.setFloat(i, 0f);
        CsrWeights csr = CsrWeights.fromDense(in.arena(), pruned);
        Tensor x = in.strided(m, k), bias = in.random(n);
        for (Activation act : Activation.values()) {
            Tensor y = in.zeros(m, n);
            be.csrLinear(x, csr, bias, act, y);
            out.expect("csrLinear " + act, y, tol);
        }
        Tensor dense = in.zeros(m, n), sparse = in.zeros(m, n);
        be.gemm(false, true, 1f, x, in.place(pruned), 0f, dense);
        be.csrLinear(x, csr, null, Activation.NONE, sparse);
        out.expectClose("csrLinear against the GEMM over the dense pruned weight", dense, sparse, tol);
        Tensor g = in.random(m, n), dx = in.random(m, k), dvalues = in.zeros(csr.nnz());
        be.csrBackwardInput(g, csr, dx);
        be.csrGradValues(g, x, csr, dvalues);
        out.expect("dx", dx, 3e-6 * (n + 8));
        out.expect("dvalues", dvalues, 3e-6 * (m + 8));
    }).refusing((be, in) -> be.csrLinear(in.random(2, 5), CsrWeights.fromDense(in.arena(), in.host(in.random(3, 4))), null, Activation.NONE, in.zeros(2, 3)))
            .onDevicesRunsOnTheHost();

    /** 2:4 masks (ties keep the lower positions; SparseParityTest), the packed 2:4 layer, and on each backend its GEMM over w ⊙ mask. */
    static final Op SPARSE24 = Op.of("sparse24", SPARSE_SHAPES, (be, in, out, s) -> {
        long m = s[0], n = s[1], k = s[2];
        double tol = 3e-6 * (k + 8);
        Tensor w = in.random(n, k), mask = in.zeros(DType.I8, n, k), x = in.strided(m, k), bias = in.random(n), y = in.zeros(m, n), masked = in.zeros(n, k);
        be.mask2to4(w, mask);
        out.expect("mask", mask, 0);
        Sparse24Weights packed = Sparse24Weights.fromDense(in.arena(), in.host(w));
        be.sparse24Linear(x, packed, bias, Activation.RELU, y);
        out.expect("sparse24Linear", y, tol);
        masked.copyFrom(w);
        be.applyMask(masked, mask);
        Tensor dense = in.zeros(m, n), sparse = in.zeros(m, n);
        be.gemm(false, true, 1f, x, masked, 0f, dense);
        be.sparse24Linear(x, packed, null, Activation.NONE, sparse);
        out.expectClose("sparse24Linear against the GEMM over w ⊙ mask", dense, sparse, tol);
    }).refusing((be, in) -> be.mask2to4(in.random(2, 6), in.zeros(DType.I8, 2, 6))).onDevicesRunsOnTheHost();
}
