package org.tune4j.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Memory;
import org.tune4j.tensor.Tensor;

/**
 * What an op case produced on one backend, in order, each with the tolerance its comparison takes:
 * |expected - actual| ≤ tol · (1 + |expected|) element by element (0: the same values).
 */
final class OpOutputs {
    private record Output(String what, float[] values, double tol) {}

    private final List<Output> outputs = new ArrayList<>();

    /** t's values now (read back to the host; I8 and I32 exactly as floats), held to tol. */
    void expect(String what, Tensor t, double tol) {
        outputs.add(new Output(what, values(t), tol));
    }

    private static float[] values(Tensor t) {
        if (t.dtype() == DType.F32) return t.toFloatArray();
        try (Arena arena = Arena.ofConfined()) {
            Tensor h = t.isHost() ? t : t.copy(arena, Memory.HOST);
            float[] v = new float[Math.toIntExact(h.numel())];
            for (int i = 0; i < v.length; i++) v[i] = h.dtype() == DType.I8 ? h.getByte(i) : h.getInt(i); // exact below 2^24
            return v;
        }
    }

    void expect(String what, double value, double tol) {
        outputs.add(new Output(what, new float[] {(float) value}, tol));
    }

    /** Fails unless actual holds the same outputs as this (the reference's) within their tolerances. */
    void assertMatchedBy(OpOutputs actual, String where) {
        assertEquals(names(), actual.names(), where + ": the outputs in order");
        for (int o = 0; o < outputs.size(); o++) {
            Output e = outputs.get(o), a = actual.outputs.get(o);
            String what = where + " " + e.what;
            if (e.values.length != a.values.length) fail(what + ": " + e.values.length + " values against " + a.values.length);
            for (int i = 0; i < e.values.length; i++) {
                double err = Math.abs((double) e.values[i] - a.values[i]);
                if (!(err <= e.tol * (1 + Math.abs(e.values[i]))))
                    fail(what + ": element " + i + " expected " + e.values[i] + " got " + a.values[i] + " (tolerance " + e.tol + ")");
            }
        }
    }

    /** Fails unless other holds the same bits in every output. */
    void assertSameBits(OpOutputs other, String where) {
        assertEquals(names(), other.names(), where + ": the outputs in order");
        for (int o = 0; o < outputs.size(); o++) {
            float[] e = outputs.get(o).values, a = other.outputs.get(o).values;
            for (int i = 0; i < e.length; i++)
                if (Float.floatToRawIntBits(e[i]) != Float.floatToRawIntBits(a[i]))
                    fail(where + " " + outputs.get(o).what + ": element " + i + " differs: " + e[i] + " vs " + a[i]);
        }
    }

    /** Fails now unless a and b, two results of one run, hold the same bits (a fused op against its parts, in place against not). */
    void expectSameBits(String what, Tensor a, Tensor b) {
        float[] x = a.toFloatArray(), y = b.toFloatArray();
        assertEquals(x.length, y.length, what + ": sizes");
        for (int i = 0; i < x.length; i++)
            if (Float.floatToRawIntBits(x[i]) != Float.floatToRawIntBits(y[i])) fail(what + ": element " + i + " differs: " + x[i] + " vs " + y[i]);
    }

    /** Fails now unless two results of one run agree within tol (an op against what it stands for on the same backend). */
    void expectClose(String what, Tensor expected, Tensor actual, double tol) {
        float[] e = expected.toFloatArray(), a = actual.toFloatArray();
        assertEquals(e.length, a.length, what + ": sizes");
        for (int i = 0; i < e.length; i++)
            if (!(Math.abs((double) e[i] - a[i]) <= tol * (1 + Math.abs(e[i])))) fail(what + ": element " + i + " expected " + e[i] + " got " + a[i] + " (tolerance " + tol + ")");
    }

    int size() {
        return outputs.size();
    }

    private List<String> names() {
        return outputs.stream().map(Output::what).toList();
    }
}
