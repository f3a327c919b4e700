package org.tune4j.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tune4j.backend.CpuBackend;
import org.tune4j.data.IdxFile;
import org.tune4j.data.ImageDataset;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * Files a hostile but fair user hands over: each case once crashed the JVM, hung, allocated what its header
 * promised, or loaded silently wrong (issue 22). Each is now refused in one message naming the problem.
 */
class HostileFilesTest {
    private static Path safetensors(Path dir, String name, String header, byte[] data) throws IOException {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h).put(data);
        Path f = dir.resolve(name);
        Files.write(f, b.array());
        return f;
    }

    private static void assertRefused(Path file, String mustMention) {
        IOException e = assertThrows(IOException.class, () -> Safetensors.read(file).close());
        assertTrue(e.getMessage().contains(mustMention), "'" + e.getMessage() + "' should mention " + mustMention);
    }

    @Test
    void shapesWhoseByteCountWrapsAroundAreRefused(@TempDir Path dir) throws IOException {
        // 2^62 F32 elements are 2^64 bytes: 0 modulo 2^64, which once matched a 0-byte span
        assertRefused(safetensors(dir, "wrap1", "{\"w\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904],\"data_offsets\":[0,0]}}", new byte[0]),
                "bytes for shape");
        assertRefused(safetensors(dir, "wrap2", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2147483648,2147483648],\"data_offsets\":[0,0]}}", new byte[0]),
                "bytes for shape");
        assertRefused(safetensors(dir, "wrap3", "{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4],\"data_offsets\":[0,40]}}", new byte[40]),
                "2^63");
        assertRefused(safetensors(dir, "neg", "{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", new byte[4]), "non-negative");
        assertRefused(safetensors(dir, "frac", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", new byte[4]), "non-negative integer");
        assertRefused(safetensors(dir, "text", "{\"w\":{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}}", new byte[4]), "non-negative integer");
        assertRefused(safetensors(dir, "dup", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                + "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", new byte[4]), "Duplicate");
        assertRefused(safetensors(dir, "meta", "{\"__metadata__\":{\"depth\":{\"x\":1}}}", new byte[0]), "not a string");
    }

    @Test
    void tensorsAreOwnedSoTruncatingTheFileLaterIsHarmless(@TempDir Path dir) throws IOException {
        Path f = dir.resolve("w.safetensors");
        try (Arena arena = Arena.ofConfined()) {
            Safetensors.write(f, Map.of("w", Tensor.of(arena, new float[] {1, 2, 3, 4}, 4)), Map.of());
        }
        try (Safetensors.File file = Safetensors.read(f)) {
            try (RandomAccessFile raf = new RandomAccessFile(f.toFile(), "rw")) {
                raf.setLength(8); // a mapping would now SIGBUS on the next read
            }
            Tensor w = file.get("w");
            assertTrue(!w.isReadOnly(), "owned memory is writable");
            CpuBackend.get().scale(2f, w);
            assertEquals(8f, w.getFloat(3));
        }
    }

    @Test
    void aMappedTensorIsReadOnlyAndKernelsRefuseToWriteIt(@TempDir Path dir) throws IOException {
        Path f = dir.resolve("w.safetensors");
        try (Arena arena = Arena.ofConfined()) {
            Safetensors.write(f, Map.of("w", Tensor.of(arena, new float[] {1, 2, 3, 4}, 4)), Map.of());
        }
        try (Safetensors.File file = Safetensors.read(f, new Safetensors.Options(true, false))) {
            Tensor w = file.get("w");
            assertTrue(w.isReadOnly());
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> CpuBackend.get().scale(2f, w));
            assertTrue(e.getMessage().contains("y is read-only"), e.getMessage());
            assertEquals(4f, w.getFloat(3));
        }
    }

    @Test
    void aFailedWriteLeavesNoTemporaryFile(@TempDir Path dir) throws IOException {
        Path f = dir.resolve("w.safetensors");
        try (Arena arena = Arena.ofConfined()) {
            Tensor strided = Tensor.zeros(arena, DType.F32, 4, 4).view(0, 0, 2, 2);
            assertThrows(IllegalArgumentException.class, () -> Safetensors.write(f, Map.of("w", strided), Map.of()));
        }
        try (var files = Files.list(dir)) {
            assertEquals(List.of(), files.toList());
        }
    }

    private static byte[] idxHeader(int... dims) {
        ByteBuffer b = ByteBuffer.allocate(4 + 4 * dims.length);
        b.put(new byte[] {0, 0, 8, (byte) dims.length});
        for (int d : dims) b.putInt(d);
        return b.array();
    }

    @Test
    void anIdxHeaderCannotMakeTheReaderAllocateWhatTheFileDoesNotHold(@TempDir Path dir) throws IOException {
        Path raw = dir.resolve("big-idx3-ubyte");
        Files.write(raw, idxHeader(1_500_000_000, 1, 1)); // 1.5e9 images promised by a 16-byte file
        long before = usedHeap();
        IOException e = assertThrows(IOException.class, () -> IdxFile.read(raw));
        assertTrue(e.getMessage().contains("truncated"), e.getMessage());
        assertTrue(usedHeap() - before < 256L << 20, "the reader allocated what the header promised");

        ByteArrayOutputStream gz = new ByteArrayOutputStream();
        try (GZIPOutputStream out = new GZIPOutputStream(gz)) {
            out.write(idxHeader(1_500_000_000, 1, 1));
            out.write(new byte[1000]);
        }
        Path packed = dir.resolve("big-idx3-ubyte.gz");
        Files.write(packed, gz.toByteArray());
        assertTrue(assertThrows(IOException.class, () -> IdxFile.read(packed)).getMessage().contains("truncated"));

        Path huge = dir.resolve("huge-idx3-ubyte");
        Files.write(huge, idxHeader(65536, 65536, 2));
        assertTrue(assertThrows(IOException.class, () -> IdxFile.read(huge)).getMessage().contains("more than"));
    }

    private static long usedHeap() {
        Runtime r = Runtime.getRuntime();
        return r.totalMemory() - r.freeMemory();
    }

    @Test
    void anIdxFileOfNoImagesIsAnErrorNotAnAccuracyOfZero(@TempDir Path dir) throws IOException {
        Path images = dir.resolve("empty-idx3-ubyte"), labels = dir.resolve("empty-idx1-ubyte");
        Files.write(images, idxHeader(0, 28, 28));
        Files.write(labels, idxHeader(0));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ImageDataset.of(IdxFile.read(images), IdxFile.read(labels), List.of("a", "b"), "empty"));
        assertTrue(e.getMessage().contains("no images"), e.getMessage());
    }

    @Test
    void idxReadingNeverHangs(@TempDir Path dir) throws IOException {
        Path f = dir.resolve("short-idx3-ubyte");
        Files.write(f, idxHeader(3, 2));
        org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(Duration.ofSeconds(10), () -> assertThrows(IOException.class, () -> IdxFile.read(f)));
    }
}
