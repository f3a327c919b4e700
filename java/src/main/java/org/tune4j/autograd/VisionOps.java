package org.tune4j.autograd;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.tune4j.tensor.Tensor;

/**
 * The tape ops only a vision transformer needs: patch extraction (a fixed permutation of each image's pixels) and
 * token assembly (class token, patches, positions). Recorded on the {@link Tape} they are given, forward and backward
 * side by side as the tape's own ops.
 */
public final class VisionOps {
    private VisionOps() {}

    /**
     * ViT token assembly: patches [batch·p, d] (embedded), a class token cls [1, d] and positions pos [p+1, d]
     * → tokens [batch·(p+1), d]; each sequence is the class token then its p patches, plus the positions.
     */
    public static Var tokens(Tape t, Var patches, Var cls, Var pos, int batch) {
        long d = cls.value.numel(), p = patches.value.dim(0) / batch, seq = p + 1;
        Tensor y = t.empty(batch * seq, d); // every row gets the class token or a patch, then the positions
        Tensor clsRow = cls.value.reshape(1, d), posRows = pos.value.reshape(seq, d);
        for (int b = 0; b < batch; b++) {
            y.view(b * seq, 0, 1, d).copyFrom(clsRow);
            y.view(b * seq + 1, 0, p, d).copyFrom(patches.value.view(b * p, 0, p, d));
            t.backend().axpy(1f, posRows, y.view(b * seq, 0, seq, d));
        }
        Var out = t.result(y, patches, cls, pos);
        t.record(out, () -> {
            Tensor g = out.grad;
            if (g == null) return;
            if (t.needs(pos) || t.needs(cls)) {
                // Σ over the batch of each sequence's gradient [seq, d], in one call (g viewed [batch, seq·d]): its
                // first row is the class token's gradient. 2·batch calls of a row or a block each before.
                Tensor perPosition = t.zeros(seq * d);
                t.backend().sumRows(g.reshape(batch, seq * d), perPosition);
                if (t.needs(pos)) t.backend().axpy(1f, perPosition, t.gradOf(pos).reshape(seq * d));
                if (t.needs(cls)) t.backend().axpy(1f, perPosition.reshape(seq, d).view(0, 0, 1, d), t.gradOf(cls).view(0, 0, 1, d));
            }
            if (t.needs(patches))
                for (int b = 0; b < batch; b++) t.backend().axpy(1f, g.view(b * seq + 1, 0, p, d), t.gradOf(patches).view(b * p, 0, p, d));
        });
        return out;
    }

    /**
     * Rearranges each row of x [batch, n] into a block [rows, cols] of the result [batch·rows, cols]:
     * element j of a row goes to position index[j] of its block (ViT patch extraction). n = rows·cols.
     */
    public static Var permuteRows(Tape t, Var x, long[] index, long rows, long cols) {
        long batch = x.value.dim(0), n = x.value.dim(1);
        if (index.length != n || n != rows * cols) throw new IllegalArgumentException("index of " + index.length + " for rows of " + n + " into " + rows + "x" + cols);
        Tensor hostX = t.onHost(x.value); // a gather on the host, into the step's memory there
        Tensor hostY = t.hostTensor(false, batch * rows, cols);
        MemorySegment src = hostX.segment(), dst = hostY.segment();
        for (long b = 0; b < batch; b++) {
            long from = b * hostX.ld(), to = b * n;
            for (int j = 0; j < n; j++) dst.setAtIndex(ValueLayout.JAVA_FLOAT, to + index[j], src.getAtIndex(ValueLayout.JAVA_FLOAT, from + j));
        }
        Tensor y = t.onBackend(hostY);
        Var result = t.result(y, x);
        t.record(result, () -> {
            if (result.grad == null || !t.needs(x)) return;
            Tensor gx = t.gradOf(x), gy = t.onHost(result.grad), back = t.hostTensor(false, batch, n);
            MemorySegment from = gy.segment(), to = back.segment(); // the forward's gather, read the other way
            for (long b = 0; b < batch; b++)
                for (int j = 0; j < n; j++) to.setAtIndex(ValueLayout.JAVA_FLOAT, b * n + j, from.getAtIndex(ValueLayout.JAVA_FLOAT, b * n + index[j]));
            if (gx.memory() == t.backend().memory()) {
                t.backend().axpy(1f, t.onBackend(back), gx); // both [batch, n], contiguous
            } else { // a host input's gradient under a device backend: added on the host
                for (long b = 0; b < batch; b++)
                    for (int j = 0; j < n; j++) gx.setFloat(b, j, gx.getFloat(b, j) + back.getFloat(b, j));
            }
        });
        return result;
    }
}
