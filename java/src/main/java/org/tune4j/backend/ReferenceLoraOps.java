package org.tune4j.backend;

import org.tune4j.tensor.Tensor;

/**
 * The reference's LoRA ops (one file of {@link ReferenceBackend}, which extends this): the one-adapter layer
 * forward and backward, merging, and the mixed-adapter shrink and expand, segmented and per row. Plain scalar
 * Java, sums in double.
 */
abstract class ReferenceLoraOps extends ReferenceSequenceOps {
    /** x̃[i][p] = x[i][p]·mask[i][p], or x[i][p] without a mask. */
    private static float dropped(Tensor x, Tensor mask, long i, long p) {
        return mask == null ? x.getFloat(i, p) : x.getFloat(i, p) * mask.getFloat(i, p);
    }

    @Override
    public void loraForward(Tensor x, Tensor mask, Tensor w, Tensor bias, Tensor a, Tensor b, float scale, Tensor h, Tensor y) {
        var d = LoraChecks.loraForward(x, mask, w, bias, a, b, scale, h, y);
        for (long i = 0; i < d.t(); i++) {
            // h[i] = x̃[i] Aᵀ
            for (long q = 0; q < d.r(); q++) {
                double sum = 0;
                for (long p = 0; p < d.dIn(); p++) sum += (double) dropped(x, mask, i, p) * a.getFloat(q, p);
                h.setFloat(i, q, (float) sum);
            }
            // y[i] = x[i] Wᵀ + bias + s·h[i] Bᵀ
            for (long o = 0; o < d.dOut(); o++) {
                double base = 0;
                for (long p = 0; p < d.dIn(); p++) base += (double) x.getFloat(i, p) * w.getFloat(o, p);
                double low = 0;
                for (long q = 0; q < d.r(); q++) low += (double) h.getFloat(i, q) * b.getFloat(o, q);
                y.setFloat(i, o, (float) (base + (bias == null ? 0 : bias.getFloat(o)) + scale * low));
            }
        }
    }

    @Override
    public void loraBackward(Tensor x, Tensor mask, Tensor w, Tensor a, Tensor b, float scale, Tensor h, Tensor g, Tensor dx, Tensor da, Tensor db) {
        var d = LoraChecks.loraBackward(x, mask, w, a, b, scale, h, g, dx, da, db);
        // gb = g B  [t, r]
        double[][] gb = new double[(int) d.t()][(int) d.r()];
        for (int i = 0; i < d.t(); i++)
            for (int q = 0; q < d.r(); q++) {
                double sum = 0;
                for (long o = 0; o < d.dOut(); o++) sum += (double) g.getFloat(i, o) * b.getFloat(o, q);
                gb[i][q] = sum;
            }
        // db += s gᵀ h
        for (long o = 0; o < d.dOut(); o++)
            for (long q = 0; q < d.r(); q++) {
                double sum = 0;
                for (long i = 0; i < d.t(); i++) sum += (double) g.getFloat(i, o) * h.getFloat(i, q);
                db.setFloat(o, q, (float) (db.getFloat(o, q) + scale * sum));
            }
        // da += s gbᵀ x̃
        for (int q = 0; q < d.r(); q++)
            for (long p = 0; p < d.dIn(); p++) {
                double sum = 0;
                for (int i = 0; i < d.t(); i++) sum += gb[i][q] * dropped(x, mask, i, p);
                da.setFloat(q, p, (float) (da.getFloat(q, p) + scale * sum));
            }
        if (dx == null) return;
        // dx += g W + mask ⊙ (s gb A)
        for (int i = 0; i < d.t(); i++)
            for (long p = 0; p < d.dIn(); p++) {
                double base = 0;
                for (long o = 0; o < d.dOut(); o++) base += (double) g.getFloat(i, o) * w.getFloat(o, p);
                double low = 0;
                for (int q = 0; q < d.r(); q++) low += gb[i][q] * a.getFloat(q, p);
                double m = mask == null ? 1 : mask.getFloat(i, p);
                dx.setFloat(i, p, (float) (dx.getFloat(i, p) + base + m * scale * low));
            }
    }

    @Override
    public void loraMerge(Tensor w, Tensor a, Tensor b, float scale, float sign) {
        var d = LoraChecks.loraMerge(w, a, b, scale, sign);
        for (long o = 0; o < d.dOut(); o++)
            for (long p = 0; p < d.dIn(); p++) {
                double sum = 0;
                for (long q = 0; q < d.r(); q++) sum += (double) b.getFloat(o, q) * a.getFloat(q, p);
                w.setFloat(o, p, (float) (w.getFloat(o, p) + sign * scale * sum));
            }
    }

    // ---- mixed-adapter LoRA ----

    @Override
    public void loraShrinkSegments(Tensor x, Tensor segStart, Tensor segAdapter, LoraAdapters adapters, Tensor h) {
        long t = LoraChecks.loraShrink(x, adapters, h);
        long nseg = LoraChecks.loraSegments(segStart, segAdapter, t, adapters.count());
        for (long s = 0; s < nseg; s++)
            for (long p = segStart.getInt(s); p < segStart.getInt(s + 1); p++) shrinkRow(x, p, segAdapter.getInt(s), adapters, h);
    }

    @Override
    public void loraExpandSegments(Tensor h, Tensor segStart, Tensor segAdapter, LoraAdapters adapters, Tensor y) {
        long t = LoraChecks.loraExpand(h, adapters, y);
        long nseg = LoraChecks.loraSegments(segStart, segAdapter, t, adapters.count());
        for (long s = 0; s < nseg; s++)
            for (long p = segStart.getInt(s); p < segStart.getInt(s + 1); p++) expandRow(h, p, segAdapter.getInt(s), adapters, y);
    }

    @Override
    public void loraShrinkRows(Tensor x, Tensor rowAdapter, LoraAdapters adapters, Tensor h) {
        long t = LoraChecks.loraShrink(x, adapters, h);
        LoraChecks.loraRows(rowAdapter, t, adapters.count());
        for (long p = 0; p < t; p++) shrinkRow(x, p, rowAdapter.getInt(p), adapters, h);
    }

    @Override
    public void loraExpandRows(Tensor h, Tensor rowAdapter, LoraAdapters adapters, Tensor y) {
        long t = LoraChecks.loraExpand(h, adapters, y);
        LoraChecks.loraRows(rowAdapter, t, adapters.count());
        for (long p = 0; p < t; p++) expandRow(h, p, rowAdapter.getInt(p), adapters, y);
    }

    @Override
    public void loraMixedForward(Tensor x, Tensor w, Tensor bias, Tensor segStart, Tensor segAdapter, LoraAdapters adapters, Tensor h, Tensor y) {
        long t = LoraChecks.loraMixedForward(x, w, bias, adapters, h, y);
        LoraChecks.loraSegments(segStart, segAdapter, t, adapters.count());
        gemm(false, true, 1f, x, w, 0f, y);
        if (bias != null) for (long p = 0; p < t; p++) for (long o = 0; o < y.dim(1); o++) y.setFloat(p, o, y.getFloat(p, o) + bias.getFloat(o));
        loraShrinkSegments(x, segStart, segAdapter, adapters, h);
        loraExpandSegments(h, segStart, segAdapter, adapters, y);
    }

    /** h[p, 0:r] = x[p] Aᵀ, the rest of h's row 0. */
    private static void shrinkRow(Tensor x, long p, int adapter, LoraAdapters adapters, Tensor h) {
        long r = adapter < 0 ? 0 : adapters.rank(adapter);
        for (long q = 0; q < h.dim(1); q++) {
            double sum = 0;
            if (q < r) for (long j = 0; j < x.dim(1); j++) sum += (double) x.getFloat(p, j) * adapters.a().get(adapter).getFloat(q, j);
            h.setFloat(p, q, (float) sum);
        }
    }

    /** y[p] += s·h[p, 0:r] Bᵀ. */
    private static void expandRow(Tensor h, long p, int adapter, LoraAdapters adapters, Tensor y) {
        if (adapter < 0) return;
        Tensor b = adapters.b().get(adapter);
        for (long o = 0; o < y.dim(1); o++) {
            double sum = 0;
            for (long q = 0; q < b.dim(1); q++) sum += (double) h.getFloat(p, q) * b.getFloat(o, q);
            y.setFloat(p, o, (float) (y.getFloat(p, o) + adapters.scales()[adapter] * sum));
        }
    }
}
