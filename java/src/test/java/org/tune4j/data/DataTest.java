package org.tune4j.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/** IDX reading and writing, the Fashion-MNIST sources, splits and batches. */
class DataTest {
    private static IdxFile.Contents images(int n) {
        byte[] v = new byte[n * 4 * 3];
        for (int i = 0; i < v.length; i++) v[i] = (byte) (i * 7);
        return new IdxFile.Contents(new int[] {n, 4, 3}, v);
    }

    @Test
    void idxRoundTripsRawAndGzip(@TempDir Path dir) throws IOException {
        for (String name : new String[] {"a-idx3-ubyte", "a-idx3-ubyte.gz"}) {
            IdxFile.write(dir.resolve(name), images(5));
            IdxFile.Contents back = IdxFile.read(dir.resolve(name));
            assertArrayEquals(new int[] {5, 4, 3}, back.dims());
            assertArrayEquals(images(5).values(), back.values());
            assertEquals(12, back.itemSize());
        }
    }

    @Test
    void corruptFilesGiveClearErrors(@TempDir Path dir) throws IOException {
        IdxFile.write(dir.resolve("ok"), images(5));
        byte[] ok = Files.readAllBytes(dir.resolve("ok"));
        Files.write(dir.resolve("truncated"), java.util.Arrays.copyOf(ok, ok.length - 3));
        byte[] magic = ok.clone();
        magic[0] = 7;
        Files.write(dir.resolve("magic"), magic);
        byte[] type = ok.clone();
        type[2] = 0x0D;
        Files.write(dir.resolve("type"), type);
        byte[] huge = ok.clone();
        huge[4] = 0x7f;
        Files.write(dir.resolve("huge"), huge);
        Files.write(dir.resolve("badgz"), new byte[] {0x1f, (byte) 0x8b, 1, 2, 3});
        assertError(dir.resolve("truncated"), "truncated");
        assertError(dir.resolve("magic"), "bad magic");
        assertError(dir.resolve("type"), "not supported");
        assertError(dir.resolve("huge"), "promises more");
        assertError(dir.resolve("badgz"), "gzip");
        assertError(dir.resolve("absent"), "not found");
    }

    private static void assertError(Path file, String mustMention) {
        IOException e = assertThrows(IOException.class, () -> IdxFile.read(file));
        assertTrue(e.getMessage().contains(mustMention) && e.getMessage().contains(file.getFileName().toString()),
                "message '" + e.getMessage() + "' should name the file and say " + mustMention);
    }

    @Test
    void embeddedSubsetIsThereWithItsLicence() throws IOException {
        FashionMnist.Source s = FashionMnist.embedded();
        assertEquals(FashionMnist.SUBSET_TRAIN, s.train().size());
        assertEquals(FashionMnist.SUBSET_TEST, s.test().size());
        assertEquals(28, s.train().height());
        int[] perClass = new int[10];
        for (int i = 0; i < s.train().size(); i++) perClass[s.train().label(i)]++;
        for (int c : perClass) assertTrue(c > 800 && c < 1200, "classes roughly balanced: " + java.util.Arrays.toString(perClass));
        assertTrue(FashionMnist.class.getResource(FashionMnist.SUBSET_RESOURCE + "LICENSE") != null, "licence shipped beside the data");
    }

    @Test
    void aMissingDirectoryNamesWhatIsExpected(@TempDir Path dir) {
        IOException e = assertThrows(IOException.class, () -> FashionMnist.load(dir.resolve("nowhere")));
        assertTrue(e.getMessage().contains("dataset-fashion-mnist") && e.getMessage().contains("train-images-idx3-ubyte"), e.getMessage());
        IOException e2 = assertThrows(IOException.class, () -> FashionMnist.fromDirectory(dir));
        assertTrue(e2.getMessage().contains("missing"), e2.getMessage());
    }

    @Test
    void rangesJoinInOrder() throws IOException {
        ImageDataset train = FashionMnist.embedded().train();
        ImageDataset a = train.range(10, 13), b = train.range(100, 102), both = a.concat(b);
        assertEquals(5, both.size());
        int[] from = {10, 11, 12, 100, 101};
        for (int i = 0; i < 5; i++) {
            assertEquals(train.label(from[i]), both.label(i));
            assertArrayEquals(train.image(from[i]), both.image(i));
        }
        assertThrows(IllegalArgumentException.class, () -> train.range(5, train.size() + 1));
        ImageDataset other = new ImageDataset(new byte[4], new int[] {0}, 2, 2, train.classes());
        assertTrue(assertThrows(IllegalArgumentException.class, () -> a.concat(other)).getMessage().contains("cannot join"));
    }

    @Test
    void splitsAndBatchesAreSeeded() throws IOException {
        ImageDataset train = FashionMnist.embedded().train();
        ImageDataset.Split a = train.split(1000, 42), b = train.split(1000, 42);
        assertEquals(1000, a.validation().size());
        assertEquals(train.size() - 1000, a.train().size());
        for (int i = 0; i < 50; i++) assertEquals(a.validation().label(i), b.validation().label(i));
        Batcher batcher = new Batcher(a.train(), 64, 7, true);
        assertEquals((a.train().size() + 63) / 64, batcher.batches());
        assertArrayEquals(batcher.order(3), batcher.order(3));
        assertTrue(!java.util.Arrays.equals(batcher.order(3), batcher.order(4)), "each epoch its own order");
        try (Arena arena = Arena.ofConfined()) {
            Tensor x = Tensor.zeros(arena, DType.F32, 64, 784), y = Tensor.zeros(arena, DType.I32, 64);
            int[] order = batcher.order(0);
            int rows = batcher.fill(order, batcher.batches() - 1, x, y);
            assertEquals(a.train().size() - 64 * (batcher.batches() - 1), rows);
            for (long i = 0; i < (long) rows * 784; i++) assertTrue(x.getFloat(i) >= 0f && x.getFloat(i) <= 1f);
            assertEquals(a.train().label(order[64 * (batcher.batches() - 1)]), y.getInt(0));
        }
    }

    @Test
    void debianPackageLoadsWhenInstalled() throws IOException {
        Path debian = Path.of(FashionMnist.DEBIAN_DIR);
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isDirectory(debian),
                "Debian's dataset-fashion-mnist is not installed here (.ci/run installs it); the full set was not checked");
        FashionMnist.Source s = FashionMnist.load(null);
        assertEquals(60_000, s.train().size());
        assertEquals(10_000, s.test().size());
        assertEquals(List.of("T-shirt/top", "Trouser"), s.train().classes().subList(0, 2));
    }
}
