package org.tune4j.backend;

import org.tune4j.tensor.Tensor;

/**
 * The reference's sequence ops (one file of {@link ReferenceBackend}, which extends this): attention with
 * its padding mask, and embedding rows gathered by id and their gradient scattered back. Plain scalar Java,
 * sums in double.
 */
abstract class ReferenceSequenceOps extends ReferenceCompressedOps {
    @Override
    public void attentionForward(int batch, int heads, Tensor q, Tensor k, Tensor v, float scale, Tensor lengths, Tensor probs, Tensor out) {
        long seq = BackendChecks.attentionForward(batch, heads, q, k, v, scale, lengths, probs, out);
        long dh = q.dim(1) / heads;
        for (int b = 0; b < batch; b++)
            for (int h = 0; h < heads; h++) {
                long base = ((long) b * heads + h) * seq * seq, keys = lengths == null ? seq : lengths.getInt(b);
                for (long i = 0; i < seq; i++) {
                    double[] s = new double[(int) seq];
                    double mx = Double.NEGATIVE_INFINITY, sum = 0;
                    for (long j = 0; j < keys; j++) {
                        double dot = 0;
                        for (long d = 0; d < dh; d++) dot += (double) q.getFloat(b * seq + i, h * dh + d) * k.getFloat(b * seq + j, h * dh + d);
                        s[(int) j] = dot * scale;
                        mx = Math.max(mx, s[(int) j]);
                    }
                    for (long j = 0; j < keys; j++) sum += Math.exp(s[(int) j] - mx);
                    float[] p = new float[(int) seq]; // the row's probabilities, kept in probs when it is given
                    for (long j = 0; j < seq; j++) p[(int) j] = j < keys ? (float) (Math.exp(s[(int) j] - mx) / sum) : 0f;
                    if (probs != null) for (long j = 0; j < seq; j++) probs.setFloat(base + i * seq + j, p[(int) j]);
                    for (long d = 0; d < dh; d++) {
                        double o = 0;
                        for (long j = 0; j < seq; j++) o += (double) p[(int) j] * v.getFloat(b * seq + j, h * dh + d);
                        out.setFloat(b * seq + i, h * dh + d, (float) o);
                    }
                }
            }
    }

    @Override
    public void attentionBackward(int batch, int heads, Tensor q, Tensor k, Tensor v, float scale, Tensor probs, Tensor dout, Tensor dq, Tensor dk, Tensor dv) {
        long seq = BackendChecks.attentionBackward(batch, heads, q, k, v, scale, probs, dout, dq, dk, dv);
        long dh = q.dim(1) / heads;
        for (int b = 0; b < batch; b++)
            for (int h = 0; h < heads; h++) {
                long base = ((long) b * heads + h) * seq * seq;
                for (long i = 0; i < seq; i++) {
                    double[] ds = new double[(int) seq];
                    double dot = 0;
                    for (long j = 0; j < seq; j++) {
                        double dp = 0;
                        for (long d = 0; d < dh; d++) dp += (double) dout.getFloat(b * seq + i, h * dh + d) * v.getFloat(b * seq + j, h * dh + d);
                        ds[(int) j] = dp;
                        dot += probs.getFloat(base + i * seq + j) * dp;
                    }
                    for (long j = 0; j < seq; j++) {
                        double p = probs.getFloat(base + i * seq + j), dsj = p * (ds[(int) j] - dot) * scale;
                        for (long d = 0; d < dh; d++) {
                            long ri = b * seq + i, rj = b * seq + j, c = h * dh + d;
                            dv.setFloat(rj, c, (float) (dv.getFloat(rj, c) + p * dout.getFloat(ri, c)));
                            dq.setFloat(ri, c, (float) (dq.getFloat(ri, c) + dsj * k.getFloat(rj, c)));
                            dk.setFloat(rj, c, (float) (dk.getFloat(rj, c) + dsj * q.getFloat(ri, c)));
                        }
                    }
                }
            }
    }

    @Override
    public void gatherRowsAdd(Tensor ids, Tensor table, Tensor y) {
        BackendChecks.gatherRowsAdd(ids, table, y);
        for (long i = 0; i < ids.numel(); i++)
            for (long c = 0; c < table.dim(1); c++) y.setFloat(i, c, y.getFloat(i, c) + table.getFloat(ids.getInt(i), c));
    }

    @Override
    public void scatterRowsAdd(Tensor ids, Tensor dy, Tensor dtable) {
        BackendChecks.scatterRowsAdd(ids, dy, dtable);
        for (long i = 0; i < ids.numel(); i++)
            for (long c = 0; c < dtable.dim(1); c++) dtable.setFloat(ids.getInt(i), c, dtable.getFloat(ids.getInt(i), c) + dy.getFloat(i, c));
    }
}
