package org.tune4j.data;

import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * Cuts a data set into batches, in a seeded order per epoch (the same seed and epoch give the same
 * batches), converting pixels to f32 in [0, 1].
 */
public final class Batcher {
    private final ImageDataset data;
    private final int batchSize;
    private final long seed;
    private final boolean shuffle;

    public Batcher(ImageDataset data, int batchSize, long seed, boolean shuffle) {
        if (batchSize < 1) throw new IllegalArgumentException("batch size must be >= 1, is " + batchSize);
        this.data = data;
        this.batchSize = batchSize;
        this.seed = seed;
        this.shuffle = shuffle;
    }

    public int batchSize() {
        return batchSize;
    }

    /** Batches per epoch; the last may be smaller. */
    public int batches() {
        return (data.size() + batchSize - 1) / batchSize;
    }

    /** The order of epoch {@code epoch}. */
    public int[] order(int epoch) {
        if (!shuffle) return identity(data.size());
        return data.shuffledIndices(seed * 1_000_003L + epoch);
    }

    private static int[] identity(int n) {
        int[] idx = new int[n];
        for (int i = 0; i < n; i++) idx[i] = i;
        return idx;
    }

    /**
     * Fills batch {@code index} of an epoch whose order is {@code order}: images [rows, H·W] (F32) and
     * labels [rows] (I32), tensors of at least batchSize rows. Returns the rows filled.
     */
    public int fill(int[] order, int index, Tensor images, Tensor labels) {
        int n = data.pixelsPerImage();
        if (images.dtype() != DType.F32 || images.rank() != 2 || images.dim(1) != n || images.dim(0) < batchSize) {
            throw new IllegalArgumentException("images must be F32 [>= " + batchSize + ", " + n + "], is " + images);
        }
        if (labels.dtype() != DType.I32 || labels.numel() < batchSize) throw new IllegalArgumentException("labels must be I32 [>= " + batchSize + "], is " + labels);
        int start = index * batchSize, rows = Math.min(batchSize, order.length - start);
        if (index < 0 || rows <= 0) throw new IllegalArgumentException("batch " + index + " of " + batches());
        float[] row = new float[n];
        for (int r = 0; r < rows; r++) {
            int i = order[start + r];
            data.image(i, row, 0);
            java.lang.foreign.MemorySegment.copy(row, 0, images.segment(), java.lang.foreign.ValueLayout.JAVA_FLOAT, (long) r * images.ld() * 4, n);
            labels.setInt(r, data.label(i));
        }
        return rows;
    }
}
