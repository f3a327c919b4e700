package org.tune4j.data;

import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.SplittableRandom;

/**
 * Labelled grey-scale images, kept as the bytes of the file (0-255, row-major, height x width each) so a
 * data set costs one byte a pixel; batches are converted to f32 in [0, 1] when they are made.
 */
public final class ImageDataset {
    private final byte[] pixels;
    private final int[] labels;
    private final int height;
    private final int width;
    private final List<String> classes;

    public ImageDataset(byte[] pixels, int[] labels, int height, int width, List<String> classes) {
        Objects.requireNonNull(pixels, "pixels");
        Objects.requireNonNull(labels, "labels");
        Objects.requireNonNull(classes, "classes");
        if (height <= 0 || width <= 0) throw new IllegalArgumentException("image size " + height + "x" + width);
        if ((long) labels.length * height * width != pixels.length) { // int * int * int fits a long
            throw new IllegalArgumentException(labels.length + " labels but " + pixels.length + " pixels for " + height + "x" + width + " images");
        }
        for (int i = 0; i < labels.length; i++) {
            if (labels[i] < 0 || labels[i] >= classes.size()) throw new IllegalArgumentException("label " + labels[i] + " of image " + i + " is not one of " + classes.size() + " classes");
        }
        this.pixels = pixels;
        this.labels = labels;
        this.height = height;
        this.width = width;
        this.classes = List.copyOf(classes);
    }

    /** Images from an IDX image file and an IDX label file. */
    public static ImageDataset of(IdxFile.Contents images, IdxFile.Contents labels, List<String> classes, String name) {
        requireImages(images, name);
        if (labels.dims().length != 1) throw new IllegalArgumentException(name + ": labels must be a vector, got " + Arrays.toString(labels.dims()));
        if (images.count() != labels.count()) throw new IllegalArgumentException(name + ": " + images.count() + " images but " + labels.count() + " labels");
        int[] y = new int[labels.count()];
        for (int i = 0; i < y.length; i++) y[i] = Byte.toUnsignedInt(labels.values()[i]);
        return new ImageDataset(images.values(), y, images.dims()[1], images.dims()[2], classes);
    }

    /** Images from an IDX image file without labels (all 0), for watching inputs rather than scoring them. */
    public static ImageDataset unlabelled(IdxFile.Contents images, List<String> classes, String name) {
        requireImages(images, name);
        return new ImageDataset(images.values(), new int[images.count()], images.dims()[1], images.dims()[2], classes);
    }

    private static void requireImages(IdxFile.Contents images, String name) {
        if (images.dims().length != 3) throw new IllegalArgumentException(name + ": images must be N x H x W, got " + Arrays.toString(images.dims()));
        if (images.count() == 0) throw new IllegalArgumentException(name + ": the file holds no images");
        if (images.dims()[1] == 0 || images.dims()[2] == 0) throw new IllegalArgumentException(name + ": images of " + images.dims()[1] + "x" + images.dims()[2] + " pixels");
    }

    public int size() {
        return labels.length;
    }

    public int height() {
        return height;
    }

    public int width() {
        return width;
    }

    public int pixelsPerImage() {
        return height * width;
    }

    public List<String> classes() {
        return classes;
    }

    public int label(int i) {
        return labels[i];
    }

    /** Image i as the models take it: its pixels / 255 (in [0, 1]) into out[offset, offset + pixelsPerImage()). */
    public void image(int i, float[] out, int offset) {
        int n = pixelsPerImage();
        for (int p = 0; p < n; p++) out[offset + p] = pixel(i, p) / 255f;
    }

    /** Image i as the models take it, a new array of pixelsPerImage() values in [0, 1]. */
    public float[] image(int i) {
        float[] out = new float[pixelsPerImage()];
        image(i, out, 0);
        return out;
    }

    /** Pixel p (row-major) of image i, 0-255. */
    public int pixel(int i, int p) {
        return Byte.toUnsignedInt(pixels[i * pixelsPerImage() + p]);
    }

    /** The first {@code n} images (all of them when there are fewer), a copy. */
    public ImageDataset first(int n) {
        if (n < 0) throw new IllegalArgumentException("first " + n + " images: a count must be >= 0");
        int[] idx = new int[Math.min(n, size())];
        java.util.Arrays.setAll(idx, i -> i);
        return subset(idx);
    }

    /** Images {@code from} (inclusive) to {@code to} (exclusive), a copy. */
    public ImageDataset range(int from, int to) {
        if (from < 0 || to < from || to > size()) throw new IllegalArgumentException("images [" + from + ", " + to + ") of " + size());
        int[] idx = new int[to - from];
        java.util.Arrays.setAll(idx, i -> from + i);
        return subset(idx);
    }

    /** This data set's images followed by {@code other}'s (same image size and classes), a copy. */
    public ImageDataset concat(ImageDataset other) {
        if (other.height != height || other.width != width || !other.classes.equals(classes)) {
            throw new IllegalArgumentException("cannot join " + height + "x" + width + " images of " + classes + " with " + other.height + "x" + other.width
                    + " of " + other.classes);
        }
        byte[] px = Arrays.copyOf(pixels, pixels.length + other.pixels.length);
        System.arraycopy(other.pixels, 0, px, pixels.length, other.pixels.length);
        int[] y = Arrays.copyOf(labels, labels.length + other.labels.length);
        System.arraycopy(other.labels, 0, y, labels.length, other.labels.length);
        return new ImageDataset(px, y, height, width, classes);
    }

    /** The images at {@code indices}, in that order (a copy). */
    public ImageDataset subset(int[] indices) {
        int n = pixelsPerImage();
        byte[] px = new byte[indices.length * n];
        int[] y = new int[indices.length];
        for (int k = 0; k < indices.length; k++) {
            if (indices[k] < 0 || indices[k] >= size()) throw new IllegalArgumentException("index " + indices[k] + " (at " + k + ") is outside the " + size() + " images");
            System.arraycopy(pixels, indices[k] * n, px, k * n, n);
            y[k] = labels[indices[k]];
        }
        return new ImageDataset(px, y, height, width, classes);
    }

    /** A seeded permutation of 0 .. size-1 (Fisher-Yates): the same seed gives the same order. */
    public int[] shuffledIndices(long seed) {
        int[] idx = new int[size()];
        for (int i = 0; i < idx.length; i++) idx[i] = i;
        SplittableRandom rng = new SplittableRandom(seed);
        for (int i = idx.length - 1; i > 0; i--) {
            int j = rng.nextInt(i + 1);
            int t = idx[i];
            idx[i] = idx[j];
            idx[j] = t;
        }
        return idx;
    }

    /** A held-out split: {@code validation} images drawn with {@code seed} as the second half, the rest first. */
    public Split split(int validation, long seed) {
        if (validation < 0 || validation >= size()) throw new IllegalArgumentException("validation size " + validation + " for " + size() + " images");
        int[] idx = shuffledIndices(seed);
        return new Split(subset(Arrays.copyOfRange(idx, validation, idx.length)), subset(Arrays.copyOfRange(idx, 0, validation)));
    }

    /** Training and validation parts of a data set. */
    public record Split(ImageDataset train, ImageDataset validation) {}
}
