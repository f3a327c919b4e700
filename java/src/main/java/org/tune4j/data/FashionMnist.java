package org.tune4j.data;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/**
 * Fashion-MNIST (Zalando Research, MIT licence): 60,000 training and 10,000 test images of 28 x 28
 * pixels in 10 classes. Found, in this order: a directory given by the user; Debian's
 * {@code dataset-fashion-mnist} package ({@value #DEBIAN_DIR}); the subset shipped in the jar (the first
 * 10,000 training and 2,000 test images, with the data set's licence in
 * {@code org/tune4j/data/fashion-mnist-subset/LICENSE}).
 */
public final class FashionMnist {
    public static final List<String> CLASSES = List.of("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
            "Sneaker", "Bag", "Ankle boot");
    public static final String DEBIAN_DIR = "/usr/share/datasets/fashion-mnist";
    static final String SUBSET_RESOURCE = "/org/tune4j/data/fashion-mnist-subset/";
    public static final int SUBSET_TRAIN = 10_000;
    public static final int SUBSET_TEST = 2_000;

    private static final String[] FILES = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};

    /** Where the data came from, and the two splits. */
    /** The two splits, what they are, and where they were read from (file paths, or "jar:" and the resource name). */
    public record Source(String description, ImageDataset train, ImageDataset test, List<String> files) {
        public Source {
            files = List.copyOf(files);
        }
    }

    private FashionMnist() {}

    /**
     * The full set from {@code dataDir} when given (an error if it lacks the files), else from Debian's
     * package when installed, else the embedded subset.
     */
    public static Source load(Path dataDir) throws IOException {
        if (dataDir != null) return fromDirectory(dataDir);
        Path debian = Path.of(DEBIAN_DIR);
        if (Files.isRegularFile(debian.resolve(FILES[0] + ".gz"))) return fromDirectory(debian);
        return embedded();
    }

    /** The four standard files (raw or .gz) from {@code dir}. */
    public static Source fromDirectory(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            throw new IOException("Fashion-MNIST directory not found: " + dir + " (expected " + String.join(", ", FILES)
                    + ", raw or .gz; Debian: apt-get install dataset-fashion-mnist)");
        }
        IdxFile.Contents[] parts = new IdxFile.Contents[4];
        List<String> files = new java.util.ArrayList<>();
        for (int i = 0; i < 4; i++) {
            Path gz = dir.resolve(FILES[i] + ".gz"), raw = dir.resolve(FILES[i]);
            Path file = Files.isRegularFile(gz) ? gz : raw;
            if (!Files.isRegularFile(file)) throw new IOException("Fashion-MNIST file missing in " + dir + ": " + FILES[i] + " (or .gz)");
            parts[i] = IdxFile.read(file);
            files.add(file.toAbsolutePath().toString());
        }
        return new Source("Fashion-MNIST from " + dir, ImageDataset.of(parts[0], parts[1], CLASSES, dir + " train"),
                ImageDataset.of(parts[2], parts[3], CLASSES, dir + " test"), files);
    }

    /** The subset shipped inside the jar. */
    public static Source embedded() throws IOException {
        IdxFile.Contents[] parts = new IdxFile.Contents[4];
        List<String> files = new java.util.ArrayList<>();
        for (int i = 0; i < 4; i++) {
            String name = SUBSET_RESOURCE + FILES[i] + ".gz";
            files.add("jar:" + name);
            try (InputStream in = FashionMnist.class.getResourceAsStream(name)) {
                if (in == null) throw new IOException("the embedded Fashion-MNIST subset is missing from the jar: " + name);
                parts[i] = IdxFile.read(in, name);
            }
        }
        return new Source("Fashion-MNIST subset embedded in the jar (" + SUBSET_TRAIN + " train, " + SUBSET_TEST + " test)",
                ImageDataset.of(parts[0], parts[1], CLASSES, "embedded train"), ImageDataset.of(parts[2], parts[3], CLASSES, "embedded test"), files);
    }

    /** Writes the first {@code train} and {@code test} images of {@code full} as gzip IDX files into {@code dir}. */
    public static void writeSubset(Source full, Path dir, int train, int test) throws IOException {
        Files.createDirectories(dir);
        write(full.train(), train, dir, FILES[0], FILES[1]);
        write(full.test(), test, dir, FILES[2], FILES[3]);
    }

    private static void write(ImageDataset data, int n, Path dir, String images, String labels) throws IOException {
        int[] first = new int[n];
        Arrays.setAll(first, i -> i);
        ImageDataset part = data.subset(first);
        byte[] px = new byte[n * part.pixelsPerImage()], y = new byte[n];
        for (int i = 0; i < n; i++) {
            for (int p = 0; p < part.pixelsPerImage(); p++) px[i * part.pixelsPerImage() + p] = (byte) part.pixel(i, p);
            y[i] = (byte) part.label(i);
        }
        IdxFile.write(dir.resolve(images + ".gz"), new IdxFile.Contents(new int[] {n, part.height(), part.width()}, px));
        IdxFile.write(dir.resolve(labels + ".gz"), new IdxFile.Contents(new int[] {n}, y));
    }

    /** Makes the embedded subset from Debian's files: {@code FashionMnist OUT_DIR}. */
    public static void main(String[] args) throws IOException {
        writeSubset(fromDirectory(Path.of(DEBIAN_DIR)), Path.of(args[0]), SUBSET_TRAIN, SUBSET_TEST);
    }
}
