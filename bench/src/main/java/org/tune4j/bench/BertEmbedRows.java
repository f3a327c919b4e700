package org.tune4j.bench;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import org.tune4j.backend.CpuBackend;
import org.tune4j.bench.peers.BertPeer;
import org.tune4j.data.SpamAssassin;
import org.tune4j.data.TextTokenizer;
import org.tune4j.io.HfCheckpoint;
import org.tune4j.nn.BertConfig;
import org.tune4j.serve.SentenceEncoder;

/**
 * Sentence embeddings of real texts of mixed length, what {@code tune4j embed} does to a corpus: the first
 * {@value #TEXTS} texts of the shipped SpamAssassin subset (Subject and body; {@value #MAX_LENGTH} tokens kept) through
 * {@link SentenceEncoder} (tokenized, longest first in batches of {@value #BATCH}, each padded to its longest, mean-pooled,
 * unit length) beside ONNX Runtime running the ONNX file on the same batches, tokenized by the same tokenizer, pooled and
 * normalized in Java; both timed in alternating blocks, whole corpus a call. FLOPs: each batch's forward at its padded
 * length. The row's peer note gives the two's least cosine over the texts.
 */
final class BertEmbedRows {
    static final int TEXTS = 96, BATCH = 32, MAX_LENGTH = 256;

    private BertEmbedRows() {}

    static List<BenchRow> rows(Path hf, Path onnx, BertConfig c, int threads, double peak, List<BertPeer> peers, String missing, boolean quick) throws IOException {
        List<String> texts = SpamAssassin.embedded().texts().subList(0, TEXTS);
        List<String> sorted = new ArrayList<>(texts); // the batches SentenceEncoder makes: longest first (characters), BATCH at a time
        sorted.sort(Comparator.comparingInt(String::length).reversed());
        List<List<String>> batches = new ArrayList<>();
        for (int from = 0; from < sorted.size(); from += BATCH) batches.add(sorted.subList(from, Math.min(sorted.size(), from + BATCH)));
        String shape = "MiniLM-L6 " + TEXTS + " SpamAssassin texts <= " + MAX_LENGTH + " tokens, batches of " + BATCH;
        String backend = "cpu-" + CpuBackend.packedLinearLabel(); // its model packed, as embed loads it
        List<BenchRow> rows = new ArrayList<>();
        try (SentenceEncoder ours = SentenceEncoder.open(hf, new SentenceEncoder.Options(null, MAX_LENGTH, BATCH, 1));
                TextTokenizer tok = TextTokenizer.load(hf.resolve(HfCheckpoint.TOKENIZER), MAX_LENGTH)) {
            double flops = 0;
            for (List<String> b : batches) {
                int longest = 0;
                for (int[] ids : tok.ids(b)) longest = Math.max(longest, ids.length);
                flops += b.size() * BertSuite.forwardFlops(c, longest);
            }
            Runnable mine = () -> ours.encode(texts);
            if (peers.isEmpty()) rows.add(BenchRow.of("bert", "embed_corpus", shape, threads, backend, timed(quick, mine).medianMs()[0], flops, missing, null, peak));
            for (BertPeer peer : peers) {
                try (BertPeer.Embedder theirs = peer.embedder(onnx, tok::ids, threads)) {
                    float[][] a = ours.encode(sorted), b = theirs.embed(batches); // both in the sorted order
                    double least = 1;
                    for (int i = 0; i < a.length; i++) least = Math.min(least, cosine(a[i], b[i]));
                    Measure.Blocks ms = timed(quick, mine, () -> theirs.embed(batches));
                    rows.add(BenchRow.of("bert", "embed_corpus", shape, threads, backend, ms.medianMs()[0], flops, String.format(java.util.Locale.ROOT, "%s (least cosine %.7f)", peer.name(), least),
                            ms.medianMs()[1], peak).withSpeedupRange(ms.ratioRange(1, 0)));
                } catch (Exception | LinkageError e) {
                    rows.add(BenchRow.of("bert", "embed_corpus", shape, threads, backend, timed(quick, mine).medianMs()[0], flops, peer.name() + ": " + e, null, peak));
                }
            }
        }
        return rows;
    }

    /** Warm-up 2 s each, then 5 rounds of at least one call each (quick: 0.2 s, 2 rounds). */
    private static Measure.Blocks timed(boolean quick, Runnable... work) {
        return quick ? Measure.alternatedBlocks(0.2, 2, 0.05, work) : Measure.alternatedBlocks(2, 5, 0.3, work);
    }

    private static double cosine(float[] a, float[] b) {
        double ab = 0, aa = 0, bb = 0;
        for (int i = 0; i < a.length; i++) {
            ab += (double) a[i] * b[i];
            aa += (double) a[i] * a[i];
            bb += (double) b[i] * b[i];
        }
        return ab / Math.sqrt(aa * bb);
    }
}
